/**
 * The bridge on 1, 2 and 3 Timescale nodes holding the same rows: the run's own stack
 * is the one-node layout; two more stacks get the same seed split into 10-day time tiers, as
 * `npm run stack:up -- --timescale-nodes N` lays them out, counted back from the data's end. Each
 * query runs on the three layouts interleaved, on the same parameters, so machine load hits all
 * three alike, and every timed answer is checked. Which nodes a call asks, and whether their
 * scans run asynchronously, is read from the plan its step gives of its own statement.
 */
import type postgres from "postgres";
import { FIRST_MISSION_ID } from "../seed/generate.ts";
import { attachTimeTiers } from "../stack/lifecycle.ts";
import { seedStack, startThrowawayStack, type ThrowawayStack } from "../stack/throwaway.ts";
import * as db from "./db.ts";
import { interleave, log, type Variant } from "./measure.ts";
import { num } from "./report.ts";
import { type Run, type Search, searches } from "./scenarios.ts";

/** A stack whose bridge reads some nodes: its connections, and each foreign table's node. */
export interface Layout {
  name: string;
  nodes: number;
  /** The stack's env file, as its scripts read it. */
  env: Record<string, string>;
  db: db.Connections;
  /** Each foreign table's node, as the link role reaches it directly. */
  nodeOf: Map<string, postgres.Sql>;
  /** Each foreign table's node's port. */
  portOf: Map<string, number>;
}

/** Connects to a layout's Supabase node and, as the link role, to each Timescale node. */
async function connect(nodes: number, stack: ThrowawayStack): Promise<Layout> {
  const sql = db.openConnections(stack.env);
  const tables = await sql.admin`
    select t.ftrelid::regclass::text as relation, s.srvname as server,
           (select substr(o, 6) from unnest(s.srvoptions) o where o like 'port=%') as port
      from pg_catalog.pg_foreign_table t
      join pg_catalog.pg_foreign_server s on s.oid = t.ftserver`;
  const servers = new Map(tables.map(({ server, port }) => {
    const url = new URL(stack.env.BRIDGE_READER_URL);
    url.port = port;
    return [server, db.open(url.toString(), db.PLANNED_AS_THE_BRIDGE)];
  }));
  const nodeOf = new Map(tables.map((t) => [t.relation, servers.get(t.server)!]));
  const portOf = new Map(tables.map((t) => [t.relation, Number(t.port)]));
  const name = `${nodes} node${nodes > 1 ? "s" : ""}`;
  return { name, nodes, env: stack.env, db: sql, nodeOf, portOf };
}

/**
 * A stack with `nodes` Timescale nodes on the run's ports moved up by 20 per extra node, its
 * tiers attached and seeded as the run's stack was.
 */
async function startLayout(stack: ThrowawayStack, nodes: number, seedArgs: string[], until: Date) {
  const started = performance.now(), shift = 20 * (nodes - 1);
  const { functionsPort, supabasePort, timescalePort } = stack.config;
  const ports = {
    functionsPort: functionsPort + shift,
    supabasePort: supabasePort + shift,
    timescalePort: timescalePort + shift,
  };
  const purpose = `bench-${nodes}-nodes`;
  const layoutStack = await startThrowawayStack(purpose, ports, nodes, stack.config.supabasePg);
  await attachTimeTiers(layoutStack.config, until);
  await seedStack(layoutStack, seedArgs);
  const seconds = Math.round((performance.now() - started) / 1000);
  log(`${nodes} nodes: started and seeded in ${seconds} s`);
  return await connect(nodes, layoutStack);
}

/** Each node of a layout: its slice, and the events and activity rows it holds. */
async function holdings(layout: Layout) {
  const nodes = await layout.db.admin`
    select name, slice, events::text as events, activity_log::text as activity
      from bridge.node_slices order by name <> 'default', name`;
  const held = [];
  for (const node of nodes) {
    const [count] = await layout.db.admin.unsafe(
      `select (select count(*) from ${node.events})::int as events,
              (select count(*) from ${node.activity})::int as activity`,
    );
    held.push(
      `${node.name} (${node.slice}): ${count.events.toLocaleString("en")} events, ` +
        `${count.activity.toLocaleString("en")} activity rows`,
    );
  }
  return `- ${layout.name}: ${held.join("; ")}`;
}

/** The statements the layout's bridge sends its nodes for `call`, each with its node. */
export async function nodeStatements(layout: Layout, call: db.Call) {
  const scans = await db.stepScans(layout.db.rpc, call);
  return scans.map((scan) => ({ ...scan, node: layout.nodeOf.get(scan.relations[0])! }));
}

/** What a layout's search must answer: the top 10 of its nodes' own answers to its statements. */
async function topOfNodes(layout: Layout, call: db.Call) {
  const answers = await Promise.all(
    (await nodeStatements(layout, call)).map(({ node, remoteSql }) =>
      db.onNode(
        node,
        `select r.*, r.event_embedding operator(extensions.<=>)
                '${call.params[0]}'::extensions.vector as distance from (${remoteSql}) r`,
      )
    ),
  );
  return answers.flat()
    .sort((a, b) => a.distance - b.distance || a.event_time.getTime() - b.event_time.getTime())
    .slice(0, 10);
}

/** A query timed on every layout: id, title, one call per parameter list, a search or not. */
export type NodesQuery = [id: string, title: string, calls: db.Call[], search: boolean];

export function nodesQueries(run: Run): NodesQuery[] {
  const search = (
    [id, title, filters]: Search,
  ): NodesQuery => [id, title, run.vectors.map((vector) => db.searchCall(vector, filters)), true];
  const [plain, filtered, [id, , windowed]] = searches(run.until);
  const sets = db.missionIdSets(FIRST_MISSION_ID, run.missions, 10, run.warmup + run.count);
  const month = new Date(run.until.getTime() - 30 * 24 * 3600 * 1000).toISOString();
  const histogram = db.histogramCall("1 day", month, run.until.toISOString());
  return [
    search(plain),
    search(filtered),
    search([id, "search k=10, last 3 days (the newest tier only)", windowed]),
    ["histogram", "event_histogram, 1 day over the 30 days", [histogram], false],
    [
      "activity_10",
      `mission_activity, 10 missions, newest ${db.PAGE_ROWS} rows`,
      sets.map((ids) => db.activityCall(ids)),
      false,
    ],
  ];
}

/**
 * Untimed rounds that meet each parameter list once: the run's stack has met most of them, the
 * other two were just seeded, and timing them before their caches hold the same would compare
 * caches, not layouts.
 */
const rounds = (run: Run, calls: db.Call[]) => ({
  warmup: Math.max(run.warmup, calls.length),
  count: run.count,
});

/**
 * Times one query on every layout and checks every timed answer:
 * a search's must be the top 10 of its own nodes' answers (separately built HNSW graphs may
 * approximate differently, so the layouts' agreement is counted), any other must equal one
 * node's. Returns its row of the table.
 */
async function measureQuery(run: Run, layouts: Layout[], [id, title, calls, search]: NodesQuery) {
  const bridges = layouts.map((layout): Variant<db.Call> => [
    layout.name,
    (call) => db.viaBridge(layout.db.rpc, call),
  ]);
  const measured = await interleave(`nodes_${id}`, calls, rounds(run, calls), bridges);
  const answers = measured.map((m) => m.results.map((rows) => JSON.stringify(rows)));
  for (const [l, m] of measured.entries()) {
    let wrong = 0;
    for (const [i, rows] of m.results.entries()) {
      const expected = search
        ? db.rowsKey(rows) === db.rowsKey(await topOfNodes(layouts[l], m.queries[i]))
        : answers[l][i] === answers[0][i];
      if (!expected) wrong++;
    }
    if (wrong > 0) {
      throw new Error(
        `${title}: on ${m.name}, ${wrong} of ${m.results.length} calls answered ` +
          (search ? "other than the top 10 of the nodes' own answers" : "other than 1 node"),
      );
    }
  }
  const asked = [];
  for (const [l, m] of measured.entries()) {
    run.report.metric(`nodes_${id}_${l + 1}_p50_ms`, m.p50);
    run.report.metric(`ratio_nodes_${id}_${l + 1}_vs_1`, m.p50 / measured[0].p50);
    const scans = await nodeStatements(layouts[l], calls[0]);
    asked.push(
      `${new Set(scans.map((s) => s.node)).size} (${scans.filter((s) => s.async).length})`,
    );
  }
  const same = answers.slice(1).map((a) => a.filter((key, i) => key === answers[0][i]).length);
  return [
    title,
    ...measured.map((m) =>
      `${num(m.p50)} (${num(m.p95)})` +
      (m === measured[0] ? "" : ` **×${(m.p50 / measured[0].p50).toFixed(2)}**`)
    ),
    asked.join(", "),
    same.map((n) => `${n}/${measured[0].n}`).join(", "),
  ];
}

/**
 * Where the extra nodes' time goes, for the unfiltered search: each layout's call through the
 * bridge against its nodes' own statements run directly on the nodes, all at once (the best an
 * asynchronous Append can do) and, for the most nodes, one after another.
 */
async function searchOnTheNodes(run: Run, layouts: Layout[], calls: db.Call[]) {
  // Each call's statements per layout, read before anything is timed.
  const asks = new Map<db.Call, (() => Promise<unknown>)[][]>();
  for (const call of calls) {
    const statements = await Promise.all(layouts.map((layout) => nodeStatements(layout, call)));
    asks.set(call, statements.map((on) => on.map((s) => () => db.onNode(s.node, s.remoteSql))));
  }
  const last = layouts.length - 1;
  const measured = await interleave("nodes_search_parts", calls, rounds(run, calls), [
    ...layouts.flatMap((layout, l): Variant<db.Call>[] => [
      [`${layout.name}: bridge`, (call) => db.viaBridge(layout.db.rpc, call)],
      [
        `${layout.name}: on the nodes at once`,
        (call) => Promise.all(asks.get(call)![l].map((ask) => ask())),
      ],
    ]),
    [`${layouts[last].name}: on the nodes one after another`, async (call) => {
      for (const ask of asks.get(call)![last]) await ask();
    }],
  ]);
  const p50 = (i: number) => measured[i].p50;
  const own = layouts.map((_, l) =>
    `${l + 1}: bridge − nodes at once ${(p50(2 * l) - p50(2 * l + 1)).toFixed(2)} ms`
  );
  run.report.scenario(
    "nodes_search_parts",
    "search k=10 on 1, 2 and 3 nodes: the bridge against the nodes' own statements",
    measured,
    [],
    `the bridge's own cost by number of nodes: ${own.join(", ")}; ${layouts[last].name}' ` +
      `statements one after another / at once: ${
        (p50(2 * last + 2) / p50(2 * last + 1)).toFixed(2)
      }`,
  );
}

/**
 * Starts the 2- and 3-node stacks, times every query on the three layouts and records the table
 * and the metrics `nodes_<query>_<n>_p50_ms` and `ratio_nodes_<query>_<n>_vs_1`; then runs
 * `alsoOn`, if given, on the three layouts. The extra stacks stop with the run's
 * (stopThrowawayStacks).
 */
export async function multiNodeScenarios(
  run: Run,
  stack: ThrowawayStack,
  seedArgs: string[],
  alsoOn?: (layouts: Layout[]) => Promise<void>,
) {
  const layouts = [await connect(1, stack)];
  try {
    for (const nodes of [2, 3]) layouts.push(await startLayout(stack, nodes, seedArgs, run.until));
    const queries = nodesQueries(run);
    const rows = [];
    for (const query of queries) rows.push(await measureQuery(run, layouts, query));
    run.report.sections.push({
      title: "On 1, 2 and 3 Timescale nodes",
      intro: "The run's rows (the same seed) on three stacks: the run's own, whose bridge reads " +
        "one node, and two more reading 2 and 3 nodes in 10-day time tiers counted back from the " +
        "data's end. The three are timed interleaved on the same parameters (as above), after " +
        "untimed rounds that meet each parameter list once on every stack. p50 (p95) in ms, and " +
        "the ratio to one node's p50. Every timed call was checked: the histogram and " +
        "mission_activity answered exactly as on one node; a search answered the top 10 of its " +
        "nodes' own answers, asked directly on each node (each stack builds its HNSW graphs " +
        "anew, so a search may find other near neighbours than on one node: the calls with the " +
        "same rows are counted). Nodes asked and asynchronous scans (`Async Foreign Scan`) are " +
        "read from the plan the call's step gives of its own statement.\n\n" +
        (await Promise.all(layouts.map(holdings))).join("\n"),
      header: [
        "query",
        ...layouts.map((l) => l.name),
        "nodes asked (async scans)",
        "same rows as 1 node",
      ],
      rows,
    });
    await searchOnTheNodes(run, layouts, queries[0][2]);
    await alsoOn?.(layouts);
  } finally {
    for (const layout of layouts) {
      await Promise.all([...new Set(layout.nodeOf.values())].map((sql) => sql.end({ timeout: 5 })));
      await db.closeConnections(layout.db);
    }
  }
}
