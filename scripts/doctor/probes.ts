/**
 * The representative call of each RPC: its arguments (taken from what the bridge already
 * knows), the statement its function builds (for EXPLAIN where auto_explain is not allowed),
 * the planner settings the function sets, and what its Remote SQL must carry.
 */
import type { Sql, Transaction } from "./check.ts";
import type { ForeignScan } from "../plans.ts";
import { scansOfExplain, scansOfStep } from "./plans.ts";

/** Arguments for the representative calls. */
interface Arguments {
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
  fix: string;
  /** An expectation that cannot hold without this one (LIMIT ships only with the ORDER BY). */
  needs?: string;
}

/** One RPC's representative call, and how to read its foreign scans without running it. */
export interface Probe {
  rpc: string;
  /** The bridge table it reads: every node holding rows of it gets one foreign scan. */
  reads: string;
  call: (tx: Transaction, args: Arguments) => Promise<unknown>;
  /** The foreign scans of the same call, from a plan of the statement the RPC runs. */
  explain: (sql: Sql, args: Arguments) => Promise<ForeignScan[]>;
  expected: Expectation[];
}

const migrationFix = (rpc: string) =>
  `re-apply the migration that defines public.${rpc} (supabase/migrations/)`;
const analyzeFix = "analyze bridge.events, bridge.activity_log (see `statistics`)";
const vectorFix = "give the server extensions 'vector' and the same vector schema on both nodes " +
  "(see `server` and `pgvector`)";

const queryVector = (args: Arguments) =>
  `array_fill(0.1::real, array[${args.dimensions}])::extensions.vector`;

/**
 * The caller's scope (bridge.events_in_scope) as parameters of the Remote SQL: filtered on the
 * node, so top-k and counts are computed within it.
 */
const scopeExpected = (rpc: string): Expectation => ({
  what: "the caller's scope",
  pattern:
    /user_token = ANY \(\$\d+::text\[\]\)\) OR \(agent_key = ANY \(\$\d+::text\[\]\)\) OR \(location_key = ANY \(\$\d+::text\[\]\)/,
  fix: migrationFix(rpc),
});

const search: Probe = {
  rpc: "search_events",
  reads: "bridge.events",
  call: (tx, args) =>
    tx.unsafe(
      `select * from public.search_events(query_embedding => ${queryVector(args)},
         match_count => 5, event_types => array[$1::text],
         time_from => $2::timestamptz, time_to => $3::timestamptz)`,
      [args.eventType, args.timeFrom, args.timeTo],
    ),
  explain: (sql, args) =>
    scansOfStep(
      sql,
      `select plan from bridge.nearest_events(${queryVector(args)}, 5, array[$1::text],
         null, null, null, null, $2::timestamptz, $3::timestamptz, null, explain_only => true)`,
      [args.eventType, args.timeFrom, args.timeTo],
    ),
  expected: [
    scopeExpected("search_events"),
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
  reads: "bridge.activity_log",
  call: (tx, args) =>
    tx.unsafe(`select * from public.mission_activity(mission_ids => $1::bigint[])`, [
      args.missionIds,
    ]),
  // A copy of the statement bridge.mission_activity_rows builds, until that step can explain
  // itself as the events steps do.
  explain: (sql, args) => {
    const ids = args.missionIds.length ? args.missionIds.join(",") : "-1";
    return scansOfExplain(
      sql,
      `select a.mission_id, a.event_time, a.agent_id, a.action, a.details
         from bridge.activity_log a
        where a.mission_id = any('{${ids}}'::bigint[])
        order by date_bin('1 microsecond', a.event_time, '2000-01-01 00:00+00') desc,
                 a.mission_id, a.agent_id, a.action, a.details
        limit 100`,
      ["enable_sort = off"],
    );
  },
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
  reads: "bridge.events",
  call: (tx, args) =>
    tx.unsafe(
      `select * from public.event_histogram(bucket => $1::interval,
         time_from => $2::timestamptz, time_to => $3::timestamptz)`,
      [args.bucket, args.timeFrom, args.timeTo],
    ),
  explain: (sql, args) =>
    scansOfStep(
      sql,
      `select plan from bridge.event_counts($1::interval, $2::timestamptz, $3::timestamptz, null,
         explain_only => true)`,
      [args.bucket, args.timeFrom, args.timeTo],
    ),
  expected: [
    scopeExpected("event_histogram"),
    { what: "date_bin", pattern: /date_bin\(/, fix: migrationFix("event_histogram") },
    { what: "count(*)", pattern: /count\(\*\)/, fix: analyzeFix },
    { what: "GROUP BY", pattern: /GROUP BY/, fix: analyzeFix },
    { what: "event_time >=", pattern: /event_time >= '/, fix: migrationFix("event_histogram") },
  ],
};

/** The three RPCs, in report order. */
export const probes: Probe[] = [search, activity, histogram];
