/**
 * The bridge on 1, 2 and 3 Timescale nodes holding the same rows (issue 13): the run's own stack
 * is the one-node layout; two more stacks get the same seed split into 10-day time tiers, as
 * `npm run stack:up -- --timescale-nodes N` lays them out, counted back from the data's end. Each
 * query runs on the three layouts interleaved, on the same parameters, so machine load hits all
 * three alike; every call must get the same rows from each. Then one call per layout runs under
 * auto_explain, whose plan tells which nodes it asked and whether their scans were asynchronous.
 */
import postgres from "postgres";
import { FIRST_MISSION_ID, FIVE_PERCENT_EVENT_TYPE } from "../seed/generate.ts";
import { logPlans, planCollector } from "../plans.ts";
import { attachTimeTiers } from "../stack/lifecycle.ts";
import {
  seedStack,
  type StackPorts,
  startThrowawayStack,
  type ThrowawayStack,
} from "../stack/throwaway.ts";
import { MAX_ROWS } from "./activity.ts";
import { closeConnections, type Connections, openConnections } from "./db.ts";
import { interleave, summarize, type Variant } from "./measure.ts";
import { log } from "./progress.ts";
import {
  activityParams,
  bridgeActivitySql,
  bridgeSearchSql,
  missionIdSets,
  type SearchFilters,
  searchParams,
} from "./queries.ts";
import type { MultiNode, Report } from "./report.ts";

/** What the multi-node part needs from a run. */
export interface NodesRun {
  /** The run's stack, seeded: the one-node layout. */
  stack: ThrowawayStack;
  db: Connections;
  report: Report;
  /** The arguments the run's stack was seeded with: the other layouts get the same rows. */
  seedArgs: string[];
  vectors: string[];
  missions: number;
  warmup: number;
  count: number;
  until: Date;
}

/** A query the layouts answer: its statement as an app calls it, and one parameter list a call. */
interface NodesQuery {
  id: string;
  title: string;
  statement: string;
  params: (string | number)[][];
}

const DAY = 24 * 3600 * 1000;

function nodesQueries(run: NodesRun): NodesQuery[] {
  const search = (id: string, title: string, filters: SearchFilters): NodesQuery => ({
    id,
    title,
    statement: bridgeSearchSql(filters),
    params: run.vectors.map((vector) => searchParams(vector, 10, filters)),
  });
  const month = [new Date(run.until.getTime() - 30 * DAY).toISOString(), run.until.toISOString()];
  return [
    search("search", "search k=10", {}),
    search("search_filtered", `search k=10, event type '${FIVE_PERCENT_EVENT_TYPE}' (~5%)`, {
      eventTypes: [FIVE_PERCENT_EVENT_TYPE],
    }),
    search("search_window", "search k=10, last 3 days (the newest tier only)", {
      from: new Date(run.until.getTime() - 3 * DAY).toISOString(),
    }),
    {
      id: "histogram",
      title: "event_histogram, 1 day over the 30 days",
      statement: "select * from public.event_histogram(bucket => $1::interval, " +
        "time_from => $2::timestamptz, time_to => $3::timestamptz)",
      params: [["1 day", ...month]],
    },
    {
      id: "activity_10",
      title: `mission_activity, 10 missions, newest ${MAX_ROWS} rows`,
      statement: bridgeActivitySql(),
      params: missionIdSets(FIRST_MISSION_ID, run.missions, 10, run.warmup + run.count)
        .map((ids) => activityParams(ids, MAX_ROWS)),
    },
  ];
}

/** A layout: a stack whose bridge reads `nodes` Timescale nodes, and connections to it. */
interface Layout {
  nodes: number;
  stack: ThrowawayStack;
  db: Connections;
}

/**
 * Starts a stack with `nodes` Timescale nodes on the run's ports moved up by 20 per extra node,
 * attaches the tiers and seeds it as the run's stack was.
 */
async function startLayout(run: NodesRun, nodes: number): Promise<Layout> {
  const shift = 20 * (nodes - 1);
  const { functionsPort, supabasePort, timescalePort } = run.stack.config;
  const ports: StackPorts = {
    functionsPort: functionsPort + shift,
    supabasePort: supabasePort + shift,
    timescalePort: timescalePort + shift,
  };
  const stack = await startThrowawayStack(`bench-${nodes}-nodes`, ports, nodes);
  await attachTimeTiers(stack.config, run.until);
  await seedStack(stack, run.seedArgs);
  return { nodes, stack, db: await openConnections(stack.env) };
}

/** Each node of a layout: its slice, and the events and activity rows it holds. */
async function holdings(layout: Layout): Promise<string[]> {
  const sql = layout.db.supabaseAdmin;
  const nodes = await sql<{ name: string; slice: string; events: string; activity: string }[]>`
    select name, slice, events::text as events, activity_log::text as activity
      from bridge.node_slices order by name <> 'default', name`;
  return await Promise.all(nodes.map(async (node) => {
    const [counted] = await sql.unsafe<{ events: string; activity: string }[]>(
      `select (select count(*) from ${node.events}) as events,
              (select count(*) from ${node.activity}) as activity`,
    );
    const count = (text: string) => Number(text).toLocaleString("en");
    return `${node.name} (${node.slice}): ${count(counted.events)} events, ` +
      `${count(counted.activity)} activity rows`;
  }));
}

/** The foreign scans of one real call, with the server each reads. */
async function scansOfCall(layout: Layout, query: NodesQuery) {
  const plans = planCollector();
  const sql = postgres(layout.stack.env.SUPABASE_DB_URL, {
    max: 1,
    prepare: false,
    onnotice: plans.onnotice,
  });
  try {
    await sql.begin(async (tx) => {
      await logPlans(tx as unknown as postgres.Sql, { analyze: true });
      await tx.unsafe("set local role service_role");
      await tx.unsafe(query.statement, query.params[0]);
    });
    const scans = plans.take();
    const servers = await layout.db.supabaseAdmin<{ relation: string; server: string }[]>`
      select t.ftrelid::regclass::text as relation, s.srvname as server
        from pg_catalog.pg_foreign_table t
        join pg_catalog.pg_foreign_server s on s.oid = t.ftserver`;
    const serverOf = new Map(servers.map((s) => [s.relation, s.server]));
    return scans.map((scan) => ({ ...scan, server: serverOf.get(scan.relation ?? "") }));
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Times one query on every layout, checks the answers agree, and reads each layout's plan. */
async function measureQuery(run: NodesRun, layouts: Layout[], query: NodesQuery) {
  const variants: Variant<(string | number)[], string>[] = layouts.map((layout) => ({
    name: `${layout.nodes} node${layout.nodes > 1 ? "s" : ""}`,
    run: async (params) => JSON.stringify(await layout.db.rpc.unsafe(query.statement, params)),
  }));
  const measured = await interleave(
    `nodes_${query.id}`,
    variants,
    query.params,
    run.warmup,
    run.count,
  );
  const [one, ...more] = measured;
  for (const other of more) {
    const differing = other.results.filter((answer, i) => answer !== one.results[i]).length;
    if (differing > 0) {
      throw new Error(
        `${query.title}: ${other.name} answered ${differing} of ${one.results.length} calls ` +
          `differently from 1 node holding the same rows, e.g. for ${
            JSON.stringify(other.queries[other.results.findIndex((a, i) => a !== one.results[i])])
              .slice(0, 200)
          }`,
      );
    }
  }
  const plans = await Promise.all(layouts.map((layout) => scansOfCall(layout, query)));
  return {
    query: query.title,
    p50: measured.map((m) => summarize(m.name, m.samples).p50),
    p95: measured.map((m) => summarize(m.name, m.samples).p95),
    asked: plans.map((scans) => new Set(scans.map((scan) => scan.server)).size),
    async: plans.map((scans) => scans.filter((scan) => scan.async).length),
  };
}

/**
 * Starts the 2- and 3-node stacks, times every query on the three layouts and records the
 * table (`report.multiNode`) and the metrics `nodes_<query>_<n>_p50_ms` and
 * `ratio_nodes_<query>_<n>_vs_1`. The extra stacks stop with the run's (stopThrowawayStacks).
 */
export async function multiNodeScenarios(run: NodesRun) {
  const layouts: Layout[] = [{ nodes: 1, stack: run.stack, db: run.db }];
  try {
    for (const nodes of [2, 3]) {
      const started = performance.now();
      layouts.push(await startLayout(run, nodes));
      log(
        `${nodes} nodes: started and seeded in ${
          ((performance.now() - started) / 1000).toFixed(0)
        } s`,
      );
    }
    const table: MultiNode = {
      layouts: await Promise.all(
        layouts.map(async (layout) => ({ nodes: layout.nodes, holdings: await holdings(layout) })),
      ),
      queries: [],
    };
    for (const query of nodesQueries(run)) {
      const row = await measureQuery(run, layouts, query);
      table.queries.push(row);
      for (const [i, layout] of layouts.entries()) {
        run.report.metric(`nodes_${query.id}_${layout.nodes}_p50_ms`, row.p50[i]);
        run.report.metric(`ratio_nodes_${query.id}_${layout.nodes}_vs_1`, row.p50[i] / row.p50[0]);
      }
    }
    run.report.multiNode = table;
  } finally {
    await Promise.all(layouts.slice(1).map((layout) => closeConnections(layout.db)));
  }
}
