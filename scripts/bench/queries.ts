/**
 * What the benchmark asks: query vectors near the seeded events, mission id sets, and each
 * query's SQL twice, through the bridge's RPC on Supabase and as the bridge sends it to the
 * Timescale node (the RPC's own statement, on the export view).
 */
import type postgres from "postgres";
import { mulberry32 } from "../seed/random.ts";

/** Optional filters of a search, as public.search_events takes them. */
export interface SearchFilters {
  eventTypes?: string[];
  /** ISO time: only events at or after it. */
  from?: string;
  /** ISO time: only events before it. */
  to?: string;
  /**
   * Only for the node's statement: the user tokens of a caller's scope, in the filter's shape
   * bridge.events_in_scope sends (the bridge reads the scope from the caller's grants).
   */
  scopeTokens?: string[];
}

/** A row of a search, as both variants return it. */
export interface SearchRow {
  event_time: Date;
  user_token: string;
  agent_key: string;
  device_key: string;
  event_type: string;
  distance: number;
}

/**
 * `count` unit query vectors as pgvector literals: stored embeddings spread evenly over time,
 * each moved by random noise (norm 0.15) so no query is itself a stored row, as a new user
 * query would not be.
 *
 * @example
 * const vectors = await queryVectors(timescaleAdmin, 256); // ["[0.012345,...]", ...]
 */
export async function queryVectors(sql: postgres.Sql, count: number): Promise<string[]> {
  const rows = await sql.unsafe<{ v: string }[]>(
    `select e.event_embedding::text as v
       from public.events e
      where e.event_time in (
        select event_time from (
          select event_time, row_number() over (order by event_time) as r, count(*) over () as n
            from public.events where event_embedding is not null) s
         where (r - 1) % greatest(n / $1, 1) = 0)
      order by e.event_time
      limit $1`,
    [count],
  );
  if (rows.length === 0) throw new Error("no events to take query vectors from: seed first");
  const random = mulberry32(7);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return rows.map(({ v }) => {
    const values: number[] = JSON.parse(v);
    const sigma = 0.15 / Math.sqrt(values.length);
    const moved = values.map((x) => x + sigma * gaussian());
    const norm = Math.hypot(...moved);
    return `[${moved.map((x) => (x / norm).toFixed(6)).join(",")}]`;
  });
}

/**
 * `count` sets of `size` distinct mission ids from first..first+missions-1, as array literals.
 *
 * @example
 * missionIdSets(10001, 10000, 10, 256)[0]; // "{13412,10077,...}"
 */
export function missionIdSets(first: number, missions: number, size: number, count: number) {
  const random = mulberry32(size);
  return Array.from({ length: count }, () => {
    const ids = new Set<number>();
    while (ids.size < Math.min(size, missions)) ids.add(first + Math.floor(random() * missions));
    return `{${[...ids].join(",")}}`;
  });
}

/** The parameters both search statements take, in order: $1 vector, $2 k, then the filters. */
export function searchParams(vector: string, k: number, filters: SearchFilters) {
  const params: (string | number)[] = [vector, k];
  if (filters.eventTypes) params.push(`{${filters.eventTypes.join(",")}}`);
  if (filters.from) params.push(filters.from);
  if (filters.to) params.push(filters.to);
  if (filters.scopeTokens) params.push(`{${filters.scopeTokens.join(",")}}`);
  return params;
}

/** The call of public.search_events with the filters given, as an app makes it. */
export function bridgeSearchSql(filters: SearchFilters): string {
  const args = ["query_embedding => $1::extensions.vector", "match_count => $2::int"];
  if (filters.eventTypes) args.push(`event_types => $${args.length + 1}::text[]`);
  if (filters.from) args.push(`time_from => $${args.length + 1}::timestamptz`);
  if (filters.to) args.push(`time_to => $${args.length + 1}::timestamptz`);
  return `select * from public.search_events(${args.join(", ")})`;
}

/** The columns a search returns but the distance, as bridge.nearest_events selects them. */
export const SEARCH_KEY_COLUMNS = "e.event_time, e.user_token, e.agent_key, e.device_key, " +
  "e.location_key, e.event_type, e.data_payload_proc";

/**
 * The statement bridge.nearest_events runs, on `table`: export.events for the direct variant on
 * the Timescale node, a foreign table for the naive one on Supabase. `columns` replaces its select
 * list (the breakdown of a search leaves out the distance, then the embedding).
 */
export function directSearchSql(
  filters: SearchFilters,
  table = "export.events",
  columns?: string,
): string {
  const distance = "e.event_embedding operator(extensions.<=>) $1::extensions.vector";
  let where = "e.event_embedding is not null";
  let n = 2;
  if (filters.eventTypes) where += ` and e.event_type = any($${++n}::text[])`;
  if (filters.from) where += ` and e.event_time >= $${++n}::timestamptz`;
  if (filters.to) where += ` and e.event_time < $${++n}::timestamptz`;
  if (filters.scopeTokens) {
    where += ` and (e.user_token = any($${++n}::text[]) or e.agent_key = any('{}'::text[])` +
      ` or e.location_key = any('{}'::text[]))`;
  }
  return `select ${columns ?? `${SEARCH_KEY_COLUMNS}, ${distance} as distance`}
            from ${table} e
           where ${where}
           order by ${distance}
           limit $2::int`;
}

/** An optional time window of a mission_activity call, as ISO times: [from, to). */
export interface ActivityWindow {
  from: string;
  to: string;
}

/** The parameters every activity statement takes, in order: ids, max_rows, the window if any. */
export const activityParams = (ids: string, maxRows: number, window?: ActivityWindow) =>
  window ? [ids, maxRows, window.from, window.to] : [ids, maxRows];

/** The bridge's call: public.mission_activity, newest `max_rows` rows, maybe in a window. */
export const bridgeActivitySql = (window?: ActivityWindow) =>
  `select * from public.mission_activity(mission_ids => $1::bigint[], max_rows => $2::int${
    window ? ", time_from => $3::timestamptz, time_to => $4::timestamptz" : ""
  })`;

/** How the rows are ordered newest first on the node (one order, three plans). */
export type ActivityPlan = "event_time" | "mission_ranges" | "lateral";

/** Mission counts up to which bridge.mission_activity_rows sends the mission_ranges order. */
export const MISSION_RANGES_UP_TO = 50;

const windowFilter = (window?: ActivityWindow) =>
  window ? " and a.event_time >= $3::timestamptz and a.event_time < $4::timestamptz" : "";

const columns = "a.mission_id, a.event_time, a.agent_id, a.action, a.details";

/**
 * The same rows in the same order, written three ways for the node (export view, bridge_reader):
 * - event_time: as the bridge sent it before issue 15; the node walks its event_time index
 *   backwards, filtering by mission;
 * - mission_ranges: what bridge.mission_activity_rows sends for up to MISSION_RANGES_UP_TO
 *   missions; ordered by date_bin(1 µs), equal to event_time but no index gives it, so the node
 *   reads the missions' (mission_id, event_time) index ranges and sorts;
 * - lateral: by hand, per mission: each mission's newest max_rows by an index scan, then the
 *   newest max_rows of those. postgres_fdw cannot send it.
 */
export function nodeActivitySql(plan: ActivityPlan, window?: ActivityWindow): string {
  const filter = windowFilter(window);
  const ties = "a.mission_id, a.agent_id, a.action, a.details";
  if (plan === "lateral") {
    return `select a.* from unnest($1::bigint[]) m(id) cross join lateral (
        select ${columns} from export.activity_log a
         where a.mission_id = m.id${filter}
         order by a.event_time desc, a.agent_id, a.action, a.details
         limit $2::int) a
       order by a.event_time desc, ${ties}
       limit $2::int`;
  }
  const newest = plan === "event_time"
    ? "a.event_time"
    : "date_bin('1 microsecond', a.event_time, '2000-01-01 00:00+00')";
  return `select ${columns} from export.activity_log a
     where a.mission_id = any($1::bigint[])${filter}
     order by ${newest} desc, ${ties}
     limit $2::int`;
}

/** A search row's identity: the export view has no key, these columns together are one. */
export const rowKey = (row: SearchRow) =>
  `${row.event_time.getTime()}|${row.user_token}|${row.agent_key}|${row.device_key}`;

/**
 * The share of `exact`'s rows that `found` also has, over all queries (recall@k).
 *
 * @example
 * recall([[a, b]], [[a, c]]); // 0.5
 */
export function recall(found: SearchRow[][], exact: SearchRow[][]): number {
  let hits = 0, total = 0;
  for (const [i, truth] of exact.entries()) {
    const keys = new Set(found[i].map(rowKey));
    hits += truth.filter((row) => keys.has(rowKey(row))).length;
    total += truth.length;
  }
  return total ? hits / total : NaN;
}
