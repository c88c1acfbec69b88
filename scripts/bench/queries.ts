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
  if (filters.scopeTokens) params.push(`{${filters.scopeTokens.join(",")}}`);
  return params;
}

/** The call of public.search_events with the filters given, as an app makes it. */
export function bridgeSearchSql(filters: SearchFilters): string {
  const args = ["query_embedding => $1::extensions.vector", "match_count => $2::int"];
  if (filters.eventTypes) args.push(`event_types => $${args.length + 1}::text[]`);
  if (filters.from) args.push(`time_from => $${args.length + 1}::timestamptz`);
  return `select * from public.search_events(${args.join(", ")})`;
}

/**
 * The statement bridge.nearest_events runs, on `table`: export.events for the direct variant on
 * the Timescale node, a foreign table for the naive one on Supabase.
 */
export function directSearchSql(filters: SearchFilters, table = "export.events"): string {
  const distance = "e.event_embedding operator(extensions.<=>) $1::extensions.vector";
  let where = "e.event_embedding is not null";
  let n = 2;
  if (filters.eventTypes) where += ` and e.event_type = any($${++n}::text[])`;
  if (filters.from) where += ` and e.event_time >= $${++n}::timestamptz`;
  if (filters.scopeTokens) {
    where += ` and (e.user_token = any($${++n}::text[]) or e.agent_key = any('{}'::text[])` +
      ` or e.location_key = any('{}'::text[]))`;
  }
  return `select e.event_time, e.user_token, e.agent_key, e.device_key, e.location_key,
                 e.event_type, e.data_payload_proc, ${distance} as distance
            from ${table} e
           where ${where}
           order by ${distance}
           limit $2::int`;
}

/** The call of public.mission_activity for a set of missions, newest rows first. */
export const bridgeActivitySql =
  "select * from public.mission_activity(mission_ids => $1::bigint[], max_rows => $2::int)";

/** The statement bridge.mission_activity_rows sends to the node for the same call. */
export const directActivitySql = `select a.mission_id, a.event_time, a.agent_id, a.action, a.details
    from export.activity_log a
   where a.mission_id = any($1::bigint[])
   order by a.event_time desc
   limit $2::int`;

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
