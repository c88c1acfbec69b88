/**
 * The representative call of each RPC: its arguments (taken from what the bridge already
 * knows), how to read its plan without making it (for where auto_explain is not allowed), and
 * what its Remote SQL must carry.
 */
import type { Sql } from "./check.ts";

/** Arguments for the representative calls. */
export interface Arguments {
  eventType: string;
  timeFrom: string;
  timeTo: string;
  bucket: string;
  missionIds: number[];
  dimensions: number;
}

/**
 * The most common event type and the time range in the local statistics of the foreign tables
 * that hold bridge.events (one per node), so the planner expects more rows than the limit on
 * every node, as in real use, and every node's slice meets the probe's window; a few mission ids,
 * and the embedding's dimensions. Without statistics, a probe type and the last week.
 */
export async function representativeArguments(sql: Sql): Promise<Arguments> {
  const [row] = await sql`
    with event_stats as (
      select s.* from pg_catalog.pg_stats s
        join pg_catalog.pg_class c on c.relname = s.tablename and c.relkind = 'f'
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace and n.nspname = s.schemaname
       where coalesce(pg_catalog.pg_partition_root(c.oid), c.oid) = 'bridge.events'::regclass)
    select (select (s.most_common_vals::text::text[])[1] from event_stats s
             where s.attname = 'event_type' order by s.tablename limit 1) as event_type,
           (select array[min(b[1]), max(b[cardinality(b)])]
              from event_stats s, cast(s.histogram_bounds::text as timestamptz[]) b
             where s.attname = 'event_time') as bounds,
           array(select m.id from public.missions m order by m.id limit 3) as mission_ids,
           (select a.atttypmod from pg_catalog.pg_attribute a
             where a.attrelid = 'bridge.events'::regclass and a.attname = 'event_embedding')
             as dimensions`;
  const bounds = (row.bounds as (Date | null)[] | null)?.[0] ? row.bounds as Date[] : null;
  const to = bounds ? new Date(bounds[bounds.length - 1].getTime() + 1000) : new Date();
  const from = bounds ? bounds[0] : new Date(to.getTime() - 7 * 86400_000);
  const days = Math.max(1, Math.ceil((to.getTime() - from.getTime()) / 86400_000));
  return {
    eventType: row.event_type ?? "doctor-probe",
    timeFrom: from.toISOString(),
    timeTo: to.toISOString(),
    // At most 1000 buckets, well inside event_histogram's limit.
    bucket: days <= 1000 ? "1 day" : "7 days",
    missionIds: (row.mission_ids as string[]).map(Number),
    dimensions: row.dimensions > 0 ? row.dimensions : 768,
  };
}

/** What an RPC's Remote SQL must carry, and what to do when it does not. */
export interface Expectation {
  what: string;
  pattern: RegExp;
  /** By default: re-apply the migration that defines the RPC. */
  fix?: string;
  /** An expectation that cannot hold without this one (LIMIT ships only with the ORDER BY). */
  needs?: string;
}

/** A statement and its parameters. */
type Statement = [sql: string, params: unknown[]];

/** One RPC's representative call, and how to read its plan without making it. */
export interface Probe {
  rpc: string;
  /** The bridge table it reads: every node holding rows of it gets one foreign scan. */
  reads: string;
  call: (args: Arguments) => Statement;
  /**
   * The plan of the same call: `step` selects the plan the RPC's step gives of the statement it
   * runs (`explain_only => true`).
   */
  explain: (args: Arguments) => { step: Statement };
  expected: Expectation[];
}

const analyzeFix = "analyze bridge.events, bridge.activity_log (see `statistics`)";
const vectorFix = "give the server extensions 'vector' and the same vector schema on both nodes " +
  "(see `server` and `pgvector`)";

const queryVector = (args: Arguments) =>
  `array_fill(0.1::real, array[${args.dimensions}])::extensions.vector`;

/**
 * The caller's scope (bridge.events_in_scope) as parameters of the Remote SQL: filtered on the
 * node, so top-k and counts are computed within it.
 */
const scope: Expectation = {
  what: "the caller's scope",
  pattern:
    /user_token = ANY \(\$\d+::text\[\]\)\) OR \(agent_key = ANY \(\$\d+::text\[\]\)\) OR \(location_key = ANY \(\$\d+::text\[\]\)/,
};

const search: Probe = {
  rpc: "search_events",
  reads: "bridge.events",
  call: (args) => [
    `select * from public.search_events(query_embedding => ${queryVector(args)},
       match_count => 5, event_types => array[$1::text],
       time_from => $2::timestamptz, time_to => $3::timestamptz)`,
    [args.eventType, args.timeFrom, args.timeTo],
  ],
  explain: (args) => ({
    step: [
      `select plan from bridge.nearest_events(${queryVector(args)}, 5, array[$1::text],
         null, null, null, null, $2::timestamptz, $3::timestamptz, null, explain_only => true)`,
      [args.eventType, args.timeFrom, args.timeTo],
    ],
  }),
  expected: [
    scope,
    { what: "event_type = ANY", pattern: /event_type = ANY \(/ },
    { what: "event_time >=", pattern: /event_time >= '/ },
    { what: "event_time <", pattern: /event_time < '/ },
    {
      what: "ORDER BY event_embedding <=>",
      pattern: /ORDER BY \(event_embedding OPERATOR\(\w+\.<=>\)/,
      fix: vectorFix,
    },
    { what: "LIMIT", pattern: /LIMIT \d+/, fix: analyzeFix, needs: "ORDER BY event_embedding <=>" },
  ],
};

const activity: Probe = {
  rpc: "mission_activity",
  reads: "bridge.activity_log",
  call: (args) => [
    `select * from public.mission_activity(mission_ids => $1::bigint[])`,
    [args.missionIds],
  ],
  explain: (args) => ({
    step: [
      `select plan from bridge.mission_activity_rows($1::bigint[], null, null, null, 100, null,
         null, explain_only => true)`,
      [args.missionIds],
    ],
  }),
  expected: [
    { what: "mission_id = ANY", pattern: /mission_id = ANY \(/ },
    // For a few missions (the probe's three), newest first by an expression equal to event_time
    // that keeps the node on the missions' index ranges (20261126000800).
    {
      what: "ORDER BY event_time DESC",
      pattern: /ORDER BY date_bin\('00:00:00\.000001'::interval, event_time, [^)]+\) DESC/,
      fix: analyzeFix,
    },
  ],
};

const histogram: Probe = {
  rpc: "event_histogram",
  reads: "bridge.events",
  call: (args) => [
    `select * from public.event_histogram(bucket => $1::interval,
       time_from => $2::timestamptz, time_to => $3::timestamptz)`,
    [args.bucket, args.timeFrom, args.timeTo],
  ],
  explain: (args) => ({
    step: [
      `select plan from bridge.event_counts($1::interval, $2::timestamptz, $3::timestamptz, null,
         explain_only => true)`,
      [args.bucket, args.timeFrom, args.timeTo],
    ],
  }),
  expected: [
    scope,
    { what: "date_bin", pattern: /date_bin\(/ },
    { what: "count(*)", pattern: /count\(\*\)/, fix: analyzeFix },
    { what: "GROUP BY", pattern: /GROUP BY/, fix: analyzeFix },
    { what: "event_time >=", pattern: /event_time >= '/ },
  ],
};

/** The three RPCs, in report order. */
export const probes: Probe[] = [search, activity, histogram];
