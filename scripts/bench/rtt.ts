/**
 * The bridge at the link latency users have (`--rtt 0,5,20`, in ms). Every foreign server of a
 * layout's Supabase node is pointed at a delay proxy in front of its node (delay-proxy.ts), on a
 * new session, so every byte between the bridge and its nodes crosses a link of that round trip.
 * Each query is timed through the bridge and directly: the statements the bridge's step sends
 * its nodes (read from its own plan), sent by a client over the same delayed link to every node
 * at once. That is one round trip plus the nodes' work, the least any bridge can take. On the
 * layouts of one and three nodes, at each round-trip time in turn.
 */
import type postgres from "postgres";
import type { ForeignScan } from "../plans.ts";
import * as db from "./db.ts";
import { type DelayProxy, startDelayProxy } from "./delay-proxy.ts";
import { interleave, type Measured } from "./measure.ts";
import { type Layout, nodesQueries, type NodesQuery, nodeStatements } from "./nodes.ts";
import { num, type Report } from "./report.ts";
import type { Run } from "./scenarios.ts";

/**
 * Fewer rounds than the other scenarios: at 20 ms a round takes up to ~0.4 s on three nodes, and
 * the link, the same every round, sets most of each call's time.
 */
const ROUNDS = { warmup: 10, count: 100 };

/** A layout whose bridge and direct clients reach the nodes through delay proxies. */
interface Delayed {
  layout: Layout;
  proxies: DelayProxy[];
  /** The bridge as service_role, on a session opened once the servers were moved. */
  rpc: postgres.Sql;
  /** Each foreign table's node, as the link role reaches it through its proxy. */
  nodeOf: Map<string, postgres.Sql>;
  /** Points the servers back at their nodes and stops the proxies and connections. */
  restore(): Promise<void>;
}

const quoted = (name: string) => `"${name.replace(/"/g, '""')}"`;

/** Puts a delay proxy in front of each node of the layout and moves its servers onto them. */
async function behindProxies(layout: Layout): Promise<Delayed> {
  const admin = layout.db.admin;
  const servers = await admin<{ name: string; port: string }[]>`
    select s.srvname as name,
           (select substr(o, 6) from unnest(s.srvoptions) o where o like 'port=%') as port
      from pg_catalog.pg_foreign_server s
      join pg_catalog.pg_foreign_data_wrapper w on w.oid = s.srvfdw
     where w.fdwname = 'postgres_fdw'`;
  const proxyOf = new Map<number, DelayProxy>();
  const connections: postgres.Sql[] = [];
  const moveServers = async (portOf: (port: number) => number) => {
    for (const server of servers) {
      const port = portOf(Number(server.port));
      await admin.unsafe(`alter server ${quoted(server.name)} options (set port '${port}')`);
    }
  };
  const restore = async () => {
    await moveServers((port) => port);
    await Promise.all(connections.map((sql) => sql.end({ timeout: 5 })));
    for (const proxy of proxyOf.values()) await proxy.close();
  };
  try {
    for (const port of new Set(servers.map((server) => Number(server.port)))) {
      proxyOf.set(port, startDelayProxy({ hostname: "127.0.0.1", port }));
    }
    await moveServers((port) => proxyOf.get(port)!.port);
    const rpc = db.open(layout.env.SUPABASE_DB_URL, { role: "service_role" });
    connections.push(rpc);
    const nodeOf = new Map<string, postgres.Sql>();
    const byPort = new Map<number, postgres.Sql>();
    for (const [relation, port] of layout.portOf) {
      if (!byPort.has(port)) {
        const url = new URL(layout.env.BRIDGE_READER_URL);
        url.port = String(proxyOf.get(port)!.port);
        byPort.set(port, db.open(url.toString(), db.PLANNED_AS_THE_BRIDGE));
        connections.push(byPort.get(port)!);
      }
      nodeOf.set(relation, byPort.get(port)!);
    }
    return { layout, proxies: [...proxyOf.values()], rpc, nodeOf, restore };
  } catch (error) {
    await restore();
    throw error;
  }
}

/**
 * Fails unless the bridge's call reaches every node it asks through its proxy: were the bridge
 * to connect some other way, the bridge column would show loopback figures.
 */
async function assertThroughProxies(delayed: Delayed, call: db.Call) {
  const before = delayed.proxies.map((proxy) => proxy.bytes);
  await db.viaBridge(delayed.rpc, call);
  const idle = delayed.proxies.filter((proxy, i) => proxy.bytes === before[i]);
  if (idle.length > 0) {
    throw new Error(
      `${delayed.layout.name}: a search did not reach ${idle.length} node(s) through the delay ` +
        `proxy: the bridge connects to its nodes by other means than its foreign servers' options`,
    );
  }
}

/** A query's calls on a layout, each with the statements its step sends the nodes. */
async function prepare(layout: Layout, calls: db.Call[]) {
  const statements = new Map<db.Call, ForeignScan[]>();
  for (const call of calls.slice(0, ROUNDS.warmup + ROUNDS.count)) {
    statements.set(call, await nodeStatements(layout, call));
  }
  return statements;
}

/** p50 in ms of `select 1` on the layout's first node, through its proxy and without it. */
async function linkItself(delayed: Delayed, rtt: number) {
  const [relation] = delayed.layout.portOf.keys();
  const [through, without] = await interleave(`rtt ${rtt} ms, select 1`, [0], ROUNDS, [
    ["through the proxy", () => delayed.nodeOf.get(relation)!`select 1`],
    ["without it", () => delayed.layout.nodeOf.get(relation)!`select 1`],
  ]);
  return { through: through.p50, without: without.p50 };
}

/** How many searches' rows were all among the rows their nodes answered directly. */
function searchesFound(bridge: Measured<db.Call>, direct: Measured<db.Call>) {
  return bridge.results.filter((rows, i) => {
    const answered = new Set((direct.results[i] as postgres.Row[][]).flat().map(db.rowKey));
    return (rows as postgres.Row[]).every((row) => answered.has(db.rowKey(row)));
  }).length;
}

interface Cell {
  bridge: Measured<db.Call>;
  direct: Measured<db.Call>;
  found?: number;
}

/** One query at one round trip on a layout: the bridge against its nodes' statements at once. */
async function measureCell(
  delayed: Delayed,
  [id, , calls, search]: NodesQuery,
  statements: Map<db.Call, ForeignScan[]>,
  rtt: number,
): Promise<Cell> {
  const onNodes = (call: db.Call) =>
    Promise.all(
      statements.get(call)!.map((s) => db.onNode(delayed.nodeOf.get(s.relations[0])!, s.remoteSql)),
    );
  const [bridge, direct] = await interleave(
    `rtt ${rtt} ms, ${delayed.layout.name}, ${id}`,
    calls,
    ROUNDS,
    [["bridge", (call) => db.viaBridge(delayed.rpc, call)], ["direct", onNodes]],
  );
  return { bridge, direct, found: search ? searchesFound(bridge, direct) : undefined };
}

const range = (values: number[]) => `${num(Math.min(...values))}–${num(Math.max(...values))}`;

/**
 * Times every multi-node query on `layouts` at each round trip in `rtts` and adds the section
 * and the metrics `rtt_<rtt>_<query>_<nodes>_{bridge,direct}_p50_ms` and
 * `ratio_rtt_<rtt>_<query>_<nodes>_bridge_vs_direct`.
 */
export async function rttScenarios(run: Run, layouts: Layout[], rtts: number[]) {
  const queries = nodesQueries(run);
  const cells = new Map<string, Cell>();
  const links: { layout: string; rtt: number; through: number; without: number }[] = [];
  const key = (query: string, layout: Layout, rtt: number) => `${query}|${layout.name}|${rtt}`;
  for (const layout of layouts) {
    const statements = new Map<string, Map<db.Call, ForeignScan[]>>();
    for (const [id, , calls] of queries) statements.set(id, await prepare(layout, calls));
    const delayed = await behindProxies(layout);
    try {
      await assertThroughProxies(delayed, queries[0][2][0]);
      for (const rtt of rtts) {
        for (const proxy of delayed.proxies) proxy.oneWayMs = rtt / 2;
        const link = await linkItself(delayed, rtt);
        links.push({ layout: layout.name, rtt, ...link });
        run.report.metric(`rtt_${rtt}_select_1_${layout.nodes}_p50_ms`, link.through);
        run.report.metric(`rtt_${rtt}_select_1_${layout.nodes}_without_proxy_p50_ms`, link.without);
        for (const query of queries) {
          const cell = await measureCell(delayed, query, statements.get(query[0])!, rtt);
          cells.set(key(query[0], layout, rtt), cell);
          const metric = `rtt_${rtt}_${query[0]}_${layout.nodes}`;
          run.report.metric(`${metric}_bridge_p50_ms`, cell.bridge.p50);
          run.report.metric(`${metric}_bridge_p95_ms`, cell.bridge.p95);
          run.report.metric(`${metric}_direct_p50_ms`, cell.direct.p50);
          run.report.metric(`${metric}_direct_p95_ms`, cell.direct.p95);
          run.report.metric(`ratio_${metric}_bridge_vs_direct`, cell.bridge.p50 / cell.direct.p50);
        }
      }
    } finally {
      await delayed.restore();
    }
  }
  addSection(run.report, queries, layouts, rtts, cells, links, key);
}

function addSection(
  report: Report,
  queries: NodesQuery[],
  layouts: Layout[],
  rtts: number[],
  cells: Map<string, Cell>,
  links: { layout: string; rtt: number; through: number; without: number }[],
  key: (query: string, layout: Layout, rtt: number) => string,
) {
  const rows = layouts.map((layout) => [
    "`select 1` on the first node, directly: through the proxy (without it)",
    layout.name,
    ...rtts.map((rtt) => {
      const link = links.find((l) => l.layout === layout.name && l.rtt === rtt)!;
      return `${num(link.through)} (${num(link.without)})`;
    }),
  ]);
  for (const [id, title] of queries) {
    for (const layout of layouts) {
      rows.push([
        title,
        layout.name,
        ...rtts.map((rtt) => {
          const { bridge, direct } = cells.get(key(id, layout, rtt))!;
          return `${num(bridge.p50)} / ${num(direct.p50)} **×${
            (bridge.p50 / direct.p50).toFixed(2)
          }**`;
        }),
      ]);
    }
  }
  // The direct call should cost one round trip more than at the first setting: the check that
  // the proxy delays what it is asked to.
  const notes = rtts.slice(1).map((rtt) => {
    const added = queries.flatMap(([id]) =>
      layouts.map((layout) =>
        cells.get(key(id, layout, rtt))!.direct.p50 -
        cells.get(key(id, layout, rtts[0]))!.direct.p50
      )
    );
    return `At ${rtt} ms, the direct calls took ${range(added)} ms more than at ${rtts[0]} ms.`;
  });
  const found = queries.filter(([, , , search]) => search).flatMap(([id, title]) =>
    layouts.flatMap((layout) =>
      rtts.map((rtt) => {
        const cell = cells.get(key(id, layout, rtt))!;
        return cell.found === cell.bridge.n
          ? ""
          : `${title} on ${layout.name} at ${rtt} ms: ${cell.found}/${cell.bridge.n}`;
      })
    ).filter(Boolean)
  );
  notes.push(
    "Every timed search's rows were among its nodes' direct answers" +
      (found.length ? `, except: ${found.join("; ")}.` : "."),
  );
  report.sections.push({
    title: "At link round-trip times",
    intro: "Every foreign server of the bridge points at a TCP proxy in front of its node that " +
      "delays every chunk, both ways, by half the round-trip time (scripts/bench/delay-proxy.ts). " +
      "Bridge: the RPC as service_role. Direct: the statements the call's step sends its nodes " +
      "(the Remote SQL of its own plan), sent by a client as the link role over the same delayed " +
      "link, to every node at once: one round trip plus the nodes' work. " +
      `${ROUNDS.count} timed rounds after ${ROUNDS.warmup} warm-up rounds, interleaved; p50 in ` +
      "ms, bridge / direct, and their ratio. The first rows are the link itself: `select 1` on " +
      "the layout's first node through the proxy and, in brackets, without it (the proxy's own " +
      "cost at 0 ms is the difference).",
    header: ["query", "layout", ...rtts.map((rtt) => `RTT ${rtt} ms`)],
    rows,
    notes,
  });
}
