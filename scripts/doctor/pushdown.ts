/**
 * Pushdown: a representative call of each RPC, made once, sends its filters, ordering, limit or
 * grouping to each node, read from the Remote SQL of that node's foreign scan (scripts/plans.ts):
 * from auto_explain's plans of the real call or, where auto_explain cannot be loaded, from the
 * plan the RPC's step gives of its own statement (`explain_only => true`).
 */
import * as plans from "../plans.ts";
import {
  describeError,
  fail,
  type Finding,
  pass,
  rolledBack,
  type Sql,
  type Transaction,
} from "./check.ts";
import type { Node } from "./nodes.ts";

export type PlanMethod = "auto_explain" | "explain";

/**
 * The most common event type and the time range in the statistics of bridge.events' foreign
 * tables, so the planner expects more rows than the limit on every node, as in real use, and
 * every slice meets the window; a few mission ids; the embedding's dimensions.
 */
async function representativeArguments(sql: Sql) {
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
  const [first, last]: (Date | null)[] = row.bounds ?? [];
  const to = last ? new Date(last.getTime() + 1000) : new Date();
  const from = first ?? new Date(to.getTime() - 7 * 86400_000);
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

type Arguments = Awaited<ReturnType<typeof representativeArguments>>;

/**
 * What an RPC's Remote SQL must carry. `fix` defaults to re-applying the RPC's schema file;
 * `needs` names an expectation this one cannot hold without (LIMIT ships only with ORDER BY).
 */
type Expectation = { what: string; pattern: RegExp; fix?: string; needs?: string };

const analyzeFix = "analyze bridge.events, bridge.activity_log (see `statistics`)";

/** The caller's scope (bridge.events_in_scope), filtered on the node. */
const scope: Expectation = {
  what: "the caller's scope",
  pattern:
    /user_token = ANY \(\$\d+::text\[\]\)\) OR \(agent_key = ANY \(\$\d+::text\[\]\)\) OR \(location_key = ANY \(\$\d+::text\[\]\)/,
};

const queryVector = "array_fill(0.1::real, array[$4::int])::extensions.vector";

/**
 * Each RPC's representative call and its step's plan of the statement it runs, on the same
 * parameters; every node holding rows of the bridge table it `reads` gets one foreign scan.
 */
export const probes = [
  {
    rpc: "search_events",
    reads: "bridge.events",
    call: `select * from public.search_events(query_embedding => ${queryVector},
             match_count => 5, event_types => array[$1::text],
             time_from => $2::timestamptz, time_to => $3::timestamptz)`,
    step: `select plan from bridge.nearest_events(${queryVector}, 5, array[$1::text],
             null, null, null, null, $2::timestamptz, $3::timestamptz, null, explain_only => true)`,
    params: (args: Arguments) => [args.eventType, args.timeFrom, args.timeTo, args.dimensions],
    expected: [
      scope,
      { what: "event_type = ANY", pattern: /event_type = ANY \(/ },
      { what: "event_time >=", pattern: /event_time >= '/ },
      { what: "event_time <", pattern: /event_time < '/ },
      {
        what: "ORDER BY event_embedding <=>",
        pattern: /ORDER BY \(event_embedding OPERATOR\(\w+\.<=>\)/,
        fix: "give the server extensions 'vector' and the same vector schema on both nodes " +
          "(see `server` and `pgvector`)",
      },
      {
        what: "LIMIT",
        pattern: /LIMIT \d+/,
        fix: analyzeFix,
        needs: "ORDER BY event_embedding <=>",
      },
    ],
  },
  {
    rpc: "mission_activity",
    reads: "bridge.activity_log",
    call: "select * from public.mission_activity(mission_ids => $1::bigint[])",
    step: `select plan from bridge.mission_activity_rows($1::bigint[], null, null, null, 100, null,
             null, explain_only => true)`,
    params: (args: Arguments) => [args.missionIds],
    // The step composes each node's statement itself and sends it through dblink, so its
    // explain_only lists exactly what the call sends.
    composed: true,
    expected: [
      { what: "mission_id = ANY", pattern: /mission_id = any \(/ },
      // For a few missions, newest first by an expression equal to event_time that keeps the
      // node on the missions' index ranges (docs/design.md § the node's best plan).
      {
        what: "ORDER BY event_time DESC",
        pattern: /order by date_bin\('1 microsecond', a\.event_time, [^)]+\) desc/,
      },
    ] as Expectation[],
  },
  {
    rpc: "event_histogram",
    reads: "bridge.events",
    call: `select * from public.event_histogram(bucket => $1::interval,
             time_from => $2::timestamptz, time_to => $3::timestamptz)`,
    step: `select plan from bridge.event_counts($1::interval, $2::timestamptz, $3::timestamptz,
             null, explain_only => true)`,
    params: (args: Arguments) => [args.bucket, args.timeFrom, args.timeTo],
    expected: [
      scope,
      { what: "date_bin", pattern: /date_bin\(/ },
      { what: "count(*)", pattern: /count\(\*\)/, fix: analyzeFix },
      { what: "GROUP BY", pattern: /GROUP BY/, fix: analyzeFix },
      { what: "event_time >=", pattern: /event_time >= '/ },
    ],
  },
];

/** Logs this transaction's plans and makes it service_role's, which calls every RPC. */
async function logCallsAsServiceRole(tx: Transaction) {
  await plans.logPlans(tx);
  await tx.unsafe("set local role service_role");
  await tx`select set_config('request.jwt.claims', '{"role": "service_role"}', true)`;
}

/** auto_explain needs superuser-only settings: the local stack's postgres, not a hosted one. */
export async function availableMethod(sql: Sql): Promise<PlanMethod> {
  return await rolledBack(sql, logCallsAsServiceRole)
    .then(() => "auto_explain" as const, () => "explain" as const);
}

/** One probe's call: how its plans were read, and its foreign scans or the error it raised. */
export type ProbeRun = { how: string; scans?: plans.ForeignScan[]; error?: unknown };

/**
 * Makes each probe's call in a rolled-back transaction and reads its foreign scans by `method`,
 * by default auto_explain where it loads; `logged` collects what auto_explain logs on `sql`.
 */
export async function runProbes(
  sql: Sql,
  logged: ReturnType<typeof plans.planCollector>,
  method?: PlanMethod,
): Promise<ProbeRun[]> {
  const chosen = method ?? await availableMethod(sql);
  let args: Arguments;
  try {
    args = await representativeArguments(sql);
  } catch (error) {
    return probes.map(() => ({ how: "", error }));
  }
  const runs: ProbeRun[] = [];
  for (const probe of probes) {
    const params = probe.params(args) as never[];
    const composed = "composed" in probe;
    const explained = chosen === "explain" || composed;
    const how = composed
      ? `the statements public.${probe.rpc} sends each node`
      : explained
      ? `EXPLAIN of the statement public.${probe.rpc} runs`
      : `auto_explain of a call of public.${probe.rpc}`;
    try {
      const scans = await rolledBack(sql, async (tx) => {
        if (explained) {
          const [{ plan }] = await tx.unsafe(probe.step, params);
          if (composed && args.missionIds.length > 0) {
            // Composed statements are not planned here: only the call shows the nodes run them.
            await tx.unsafe("set local role service_role");
            await tx`select set_config('request.jwt.claims', '{"role": "service_role"}', true)`;
            await tx.unsafe(probe.call, params);
          }
          return plans.scansOfStepPlan(plan);
        }
        await logCallsAsServiceRole(tx);
        logged.take();
        await tx.unsafe(probe.call, params);
        return logged.take();
      });
      runs.push({ how, scans });
    } catch (error) {
      runs.push({ how, error });
    }
  }
  return runs;
}

/** The call sent the node one foreign scan, whose Remote SQL carries all the probe expects. */
export function checkPushdown(
  probe: typeof probes[number],
  { how, scans, error }: ProbeRun,
  node: Node,
  held: Set<string>,
): Finding {
  const reapply = `re-apply public.${probe.rpc} as supabase/schemas/${probe.rpc}.sql defines it`;
  if (!scans) {
    return fail(
      `the representative call failed: ${describeError(error)}`,
      "see the failed checks above (server, pgvector, drift)",
    );
  }
  if (!node.tables.some((t) => t.serves === probe.reads) && held.has(probe.reads)) {
    return pass(`${node.name} holds no rows of ${probe.reads}, which public.${probe.rpc} reads`);
  }
  const remoteSql = scans
    .filter((scan) => scan.relations.some((r) => node.tables.some((t) => t.name === r)))
    .map((scan) => scan.remoteSql);
  if (remoteSql.length !== 1) {
    return fail(`expected one foreign scan, found ${remoteSql.length} (${how})`, reapply);
  }
  const missing = probe.expected.filter((e) => !e.pattern.test(remoteSql[0]));
  if (missing.length === 0) {
    return pass(`Remote SQL carries ${probe.expected.map((e) => e.what).join(", ")} (${how})`);
  }
  const fixes = missing.filter((e) => !missing.some((m) => m.what === e.needs))
    .map((e) => e.fix ?? reapply);
  return fail(
    `Remote SQL lacks ${missing.map((e) => e.what).join(", ")} (${how}): ` +
      plans.shortened(remoteSql[0]),
    [...new Set(fixes)].join("; "),
  );
}
