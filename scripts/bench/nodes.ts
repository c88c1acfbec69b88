/**
 * The bridge on 1, 2 and 3 Timescale nodes holding the same rows (issue 13): the run's own stack
 * is the one-node layout; two more stacks get the same seed split into 10-day time tiers, as
 * `npm run stack:up -- --timescale-nodes N` lays them out, counted back from the data's end. Each
 * query runs on the three layouts interleaved, on the same parameters, so machine load hits all
 * three alike, and every timed answer is checked (measureQuery). Then one call per layout runs
 * under auto_explain, whose plan tells which nodes it asked and whether their scans were
 * asynchronous.
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
import { SERVICE_ROLE_SCOPE } from "./link.ts";
import { log } from "./progress.ts";
import {
  activityParams,
  bridgeActivitySql,
  bridgeSearchSql,
  directSearchSql,
  missionIdSets,
  rowKey,
  type SearchFilters,
  searchParams,
  type SearchRow,
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
  /** A search's filters: its answers are approximate (HNSW), checked against the nodes' own. */
  search?: SearchFilters;
}

const DAY = 24 * 3600 * 1000;

const layoutName = (nodes: number) => `${nodes} node${nodes > 1 ? "s" : ""}`;

function nodesQueries(run: NodesRun): NodesQuery[] {
  const search = (id: string, title: string, filters: SearchFilters): NodesQuery => ({
    id,
    title,
    statement: bridgeSearchSql(filters),
    params: run.vectors.map((vector) => searchParams(vector, 10, filters)),
    search: filters,
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

/**
 * Untimed rounds before a query's timed ones: enough to meet each of its parameter lists once.
 * The run's stack has met most of them in the run's scenarios, the other two stacks were just
 * seeded; timing them before their caches hold the same would compare caches, not layouts.
 */
const warmup = (run: NodesRun, query: NodesQuery) => Math.max(run.warmup, query.params.length);

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
    return scans.map((scan) => ({ ...scan, server: serverOf.get(scan.relations[0] ?? "") }));
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** A node of a layout as the link role reaches it directly, with its time slice. */
interface NodeLink {
  server: string;
  sql: postgres.Sql;
  /** ISO times bounding the rows it holds: [from, to), either end open. */
  from?: string;
  to?: string;
}

/**
 * Connections to every node of a layout, as the link role, with the slices the layout's time
 * tiers give them: the default node holds what comes after the others' tiers.
 */
async function nodeLinks(layout: Layout): Promise<NodeLink[]> {
  const nodes = await layout.db.supabaseAdmin<
    { server: string; port: string; time_from: Date | null; time_to: Date | null }[]
  >`
    select n.server,
           (select substr(o, 6) from unnest(s.srvoptions) o where o like 'port=%') as port,
           coalesce(lower(n.time_range), (select max(upper(b.time_range)) from bridge.nodes b
                                           where n.name = 'default')) as time_from,
           upper(n.time_range) as time_to
      from bridge.nodes n join pg_catalog.pg_foreign_server s on s.srvname = n.server`;
  return nodes.map((node) => {
    const url = new URL(layout.stack.env.BRIDGE_READER_URL);
    url.port = node.port;
    return {
      server: node.server,
      sql: postgres(url.toString(), { max: 1, prepare: false, onnotice: () => {} }),
      from: node.time_from?.toISOString(),
      to: node.time_to?.toISOString(),
    };
  });
}

/**
 * What a layout's search must answer: the top 10 of its nodes' own top 10 in their slices, each
 * asked directly on its node, with a statement of the benchmark's, on the same HNSW indexes.
 */
async function topOfNodes(links: NodeLink[], filters: SearchFilters, vector: string) {
  const answers = await Promise.all(links.map((link) => {
    const from = [filters.from, link.from].filter((t) => t !== undefined).sort().at(-1);
    const sliced = { ...filters, from, to: link.to };
    if (from !== undefined && link.to !== undefined && from >= link.to) return [];
    return link.sql.unsafe<SearchRow[]>(directSearchSql(sliced), searchParams(vector, 10, sliced));
  }));
  return answers.flat()
    .sort((a, b) => a.distance - b.distance || a.event_time.getTime() - b.event_time.getTime())
    .slice(0, 10);
}

/**
 * Each node's statement of a real unfiltered search on `layout`, ready to run on that node as
 * the link role: its Remote SQL with the query vector made parameter $5 (after the scope's four),
 * on a connection to the node's host and port.
 */
async function nodeStatements(layout: Layout, links: NodeLink[], query: NodesQuery) {
  return (await scansOfCall(layout, query)).map((scan) => ({
    sql: links.find((link) => link.server === scan.server)!.sql,
    text: scan.remoteSql.replace(/'\[[-0-9.,e]+\]'/g, "$5"),
  }));
}

/**
 * Where the extra nodes' time goes, for the unfiltered search: each layout's call through the
 * bridge against its nodes' own statements run directly on the nodes, all at once (the best an
 * asynchronous Append can do) and, for the most nodes, one after another. Recorded as the
 * scenario `nodes_search_parts`.
 */
async function searchOnTheNodes(
  run: NodesRun,
  layouts: Layout[],
  links: NodeLink[][],
  query: NodesQuery,
) {
  const statements = await Promise.all(
    layouts.map((layout, i) => nodeStatements(layout, links[i], query)),
  );
  const onNodes = (i: number, vector: string) =>
    statements[i].map(({ sql, text }) => () =>
      sql.unsafe(text, [...SERVICE_ROLE_SCOPE, vector] as never[])
    );
  const last = layouts.length - 1;
  const variants: Variant<(string | number)[], unknown>[] = [
    ...layouts.flatMap((layout, i) => [
      {
        name: `${layoutName(layout.nodes)}: bridge`,
        run: (params: (string | number)[]) => layout.db.rpc.unsafe(query.statement, params),
      },
      {
        name: `${layoutName(layout.nodes)}: on the nodes at once`,
        run: (params: (string | number)[]) =>
          Promise.all(onNodes(i, String(params[0])).map((call) => call())),
      },
    ]),
    {
      name: `${layoutName(layouts[last].nodes)}: on the nodes one after another`,
      run: async (params) => {
        for (const call of onNodes(last, String(params[0]))) await call();
      },
    },
  ];
  const measured = await interleave(
    "nodes_search_parts",
    variants,
    query.params,
    warmup(run, query),
    run.count,
  );
  const summaries = measured.map((m) => summarize(m.name, m.samples));
  const p50 = (i: number) => summaries[i].p50;
  const ms = (x: number) => `${x.toFixed(2)} ms`;
  const notes = layouts.map((layout, i) =>
    `${layout.nodes}: bridge − nodes at once ${ms(p50(2 * i) - p50(2 * i + 1))}`
  );
  run.report.scenario(
    "nodes_search_parts",
    "search k=10 on 1, 2 and 3 nodes: the bridge against the nodes' own statements",
    summaries,
    {
      note: `the bridge's own cost by number of nodes: ${notes.join(", ")}; ` +
        `${layouts[last].nodes} nodes' statements one after another / at once: ` +
        `${(p50(2 * last + 2) / p50(2 * last + 1)).toFixed(2)}`,
    },
  );
}

/**
 * Times one query on every layout and checks every timed call's answer: a search's must be the
 * top 10 of its own nodes' answers (separately built HNSW graphs may approximate differently, so
 * the layouts' agreement is counted), any other answer must equal one node's. Then reads each
 * layout's plan.
 */
async function measureQuery(
  run: NodesRun,
  layouts: Layout[],
  links: NodeLink[][],
  query: NodesQuery,
) {
  const variants: Variant<(string | number)[], Record<string, unknown>[]>[] = layouts.map((
    layout,
  ) => ({
    name: layoutName(layout.nodes),
    run: (params) => layout.db.rpc.unsafe(query.statement, params),
  }));
  const measured = await interleave(
    `nodes_${query.id}`,
    variants,
    query.params,
    warmup(run, query),
    run.count,
  );
  const answers = measured.map((m) => m.results.map((rows) => JSON.stringify(rows)));
  const sameAsOne = answers.map((layout) => layout.filter((a, i) => a === answers[0][i]).length);
  for (const [l, m] of measured.entries()) {
    let wrong = 0;
    for (const [i, rows] of m.results.entries()) {
      const expected = query.search
        ? (await topOfNodes(links[l], query.search, String(m.queries[i][0]))).map(rowKey).join()
        : answers[0][i];
      const got = query.search
        ? (rows as unknown as SearchRow[]).map(rowKey).join()
        : answers[l][i];
      if (got !== expected) wrong++;
    }
    if (wrong > 0) {
      throw new Error(
        `${query.title}: on ${m.name}, ${wrong} of ${m.results.length} calls answered ` +
          (query.search ? "other than the top 10 of the nodes' own answers" : "other than 1 node"),
      );
    }
  }
  const plans = await Promise.all(layouts.map((layout) => scansOfCall(layout, query)));
  return {
    query: query.title,
    p50: measured.map((m) => summarize(m.name, m.samples).p50),
    p95: measured.map((m) => summarize(m.name, m.samples).p95),
    sameAsOne,
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
  const links: NodeLink[][] = [];
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
    links.push(...await Promise.all(layouts.map(nodeLinks)));
    const table: MultiNode = {
      layouts: await Promise.all(
        layouts.map(async (layout) => ({ nodes: layout.nodes, holdings: await holdings(layout) })),
      ),
      queries: [],
    };
    const queries = nodesQueries(run);
    for (const query of queries) {
      const row = await measureQuery(run, layouts, links, query);
      table.queries.push(row);
      for (const [i, layout] of layouts.entries()) {
        run.report.metric(`nodes_${query.id}_${layout.nodes}_p50_ms`, row.p50[i]);
        run.report.metric(`ratio_nodes_${query.id}_${layout.nodes}_vs_1`, row.p50[i] / row.p50[0]);
      }
    }
    run.report.multiNode = table;
    await searchOnTheNodes(run, layouts, links, queries[0]);
  } finally {
    await Promise.all(links.flat().map((link) => link.sql.end({ timeout: 5 })));
    await Promise.all(layouts.slice(1).map((layout) => closeConnections(layout.db)));
  }
}
