/**
 * The representative call of each RPC: its arguments (taken from what the bridge already
 * knows), the statement its function builds (for EXPLAIN where auto_explain is not allowed),
 * the planner settings the function sets, and what its Remote SQL must carry.
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
 * The most common event type and the time range in the local statistics of bridge.events (so
 * the planner expects more rows than the limit, as in real use), a few mission ids, and the
 * embedding's dimensions. Without statistics, a probe type and the last week.
 */
export async function representativeArguments(sql: Sql): Promise<Arguments> {
  const [row] = await sql`
    select (select (s.most_common_vals::text::text[])[1] from pg_catalog.pg_stats s
             where s.schemaname = 'bridge' and s.tablename = 'events'
               and s.attname = 'event_type') as event_type,
           (select s.histogram_bounds::text::timestamptz[] from pg_catalog.pg_stats s
             where s.schemaname = 'bridge' and s.tablename = 'events'
               and s.attname = 'event_time') as bounds,
           array(select m.id from public.missions m order by m.id limit 3) as mission_ids,
           (select a.atttypmod from pg_catalog.pg_attribute a
             where a.attrelid = 'bridge.events'::regclass and a.attname = 'event_embedding')
             as dimensions`;
  const bounds = row.bounds as Date[] | null;
  const to = bounds ? new Date(bounds[bounds.length - 1].getTime() + 1000) : new Date();
  const from = bounds ? bounds[0] : new Date(to.getTime() - 7 * 86400_000);
  const days = Math.max(1, Math.ceil((to.getTime() - from.getTime()) / 86400_000));
  return {
    eventType: row.event_type ?? "doctor-probe",
    timeFrom: from.toISOString(),
    timeTo: to.toISOString(),
    // At most ~1000 buckets, well inside event_histogram's limit.
    bucket: `${Math.ceil(days / 1000)} days`,
    missionIds: (row.mission_ids as string[]).map(Number),
    dimensions: row.dimensions > 0 ? row.dimensions : 768,
  };
}

/** What an RPC's Remote SQL must carry, and what to do when it does not. */
export interface Expectation {
  what: string;
  pattern: RegExp;
  fix: string;
  /** An expectation that cannot hold without this one (LIMIT ships only with the ORDER BY). */
  needs?: string;
}

/** One RPC's representative call and its EXPLAIN equivalent. */
export interface Probe {
  rpc: string;
  call: (tx: Sql, args: Arguments) => Promise<unknown>;
  /** The statement the RPC's function builds, and the settings the function runs it under. */
  statement: (args: Arguments) => string;
  settings: string[];
  expected: Expectation[];
}

const migrationFix = (rpc: string) =>
  `re-apply the migration that defines public.${rpc} (supabase/migrations/)`;
const analyzeFix = "analyze bridge.events, bridge.activity_log (see `statistics`)";
const vectorFix = "give the server extensions 'vector' and the same vector schema on both nodes " +
  "(see `server` and `pgvector`)";

const literal = (value: string) => `'${value.replaceAll("'", "''")}'`;
const queryVector = (args: Arguments) =>
  `array_fill(0.1::real, array[${args.dimensions}])::extensions.vector`;

const search: Probe = {
  rpc: "search_events",
  call: (tx, args) =>
    tx.unsafe(
      `select * from public.search_events(query_embedding => ${queryVector(args)},
         match_count => 5, event_types => array[$1::text],
         time_from => $2::timestamptz, time_to => $3::timestamptz)`,
      [args.eventType, args.timeFrom, args.timeTo],
    ),
  statement: (args) => {
    const [q, type, from, to] = [
      queryVector(args),
      literal(args.eventType),
      literal(args.timeFrom),
      literal(args.timeTo),
    ];
    return `select e.event_time, e.event_embedding operator(extensions.<=>) ${q} as distance
              from bridge.events e
             where e.event_embedding is not null and e.event_type = any(array[${type}])
               and e.event_time >= ${from} and e.event_time < ${to}
             order by e.event_embedding operator(extensions.<=>) ${q} limit 5`;
  },
  settings: ["enable_sort = off"],
  expected: [
    {
      what: "event_type = ANY",
      pattern: /event_type = ANY \(/,
      fix: migrationFix("search_events"),
    },
    { what: "event_time >=", pattern: /event_time >= '/, fix: migrationFix("search_events") },
    { what: "event_time <", pattern: /event_time < '/, fix: migrationFix("search_events") },
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
  call: (tx, args) =>
    tx.unsafe(`select * from public.mission_activity(mission_ids => $1::bigint[])`, [
      args.missionIds,
    ]),
  statement: (args) => {
    const ids = args.missionIds.length ? args.missionIds.join(",") : "-1";
    return `select a.mission_id, a.event_time, a.agent_id, a.action, a.details
              from bridge.activity_log a
             where a.mission_id = any('{${ids}}'::bigint[])
             order by date_bin('1 microsecond', a.event_time, '2000-01-01 00:00+00') desc,
                      a.mission_id, a.agent_id, a.action, a.details
             limit 100`;
  },
  settings: ["enable_sort = off"],
  expected: [
    {
      what: "mission_id = ANY",
      pattern: /mission_id = ANY \(/,
      fix: migrationFix("mission_activity"),
    },
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
  call: (tx, args) =>
    tx.unsafe(
      `select * from public.event_histogram(bucket => $1::interval,
         time_from => $2::timestamptz, time_to => $3::timestamptz)`,
      [args.bucket, args.timeFrom, args.timeTo],
    ),
  statement: (args) => {
    const [bucket, from, to] = [literal(args.bucket), literal(args.timeFrom), literal(args.timeTo)];
    return `select date_bin(${bucket}::interval, e.event_time, ${from}::timestamptz),
                   e.event_type, count(*)
              from bridge.events e
             where e.event_time >= ${from} and e.event_time < ${to}
             group by 1, 2 order by 1, 2`;
  },
  settings: ["enable_hashagg = off", "enable_sort = off"],
  expected: [
    { what: "date_bin", pattern: /date_bin\(/, fix: migrationFix("event_histogram") },
    { what: "count(*)", pattern: /count\(\*\)/, fix: analyzeFix },
    { what: "GROUP BY", pattern: /GROUP BY/, fix: analyzeFix },
    { what: "event_time >=", pattern: /event_time >= '/, fix: migrationFix("event_histogram") },
  ],
};

/** The three RPCs, in report order. */
export const probes: Probe[] = [search, activity, histogram];
