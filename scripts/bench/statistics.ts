/**
 * Statistics: what a node's growth since the foreign tables' local statistics were taken costs
 * the RPCs, and what keeping those statistics costs the link.
 *
 * - Stale statistics: search, activity and histogram with the local statistics of every foreign
 *   table at 1% of their fresh values (every node grown 100× since), against the same calls with
 *   fresh ones, variants interleaved in one run. Twice: as the bridge plans them, from local
 *   statistics, and with the node estimating at plan time (use_remote_estimate set on the
 *   foreign tables), which shows what the node's estimates would spare and what they cost.
 * - The bytes one `analyze` of the foreign tables moves across the link, against the bytes the
 *   node's estimates move to plan each RPC's statement, counted by a TCP proxy in front of the
 *   node (TLS included): the benchmark's own server and foreign tables, on its own stack only.
 *   On PostgreSQL 16 and later, once more with the node's views reporting their row counts,
 *   which is what lets postgres_fdw sample on the node.
 */
import { FIRST_MISSION_ID } from "../seed/generate.ts";
import type { ThrowawayStack } from "../stack/throwaway.ts";
import * as db from "./db.ts";
import { interleave, log } from "./measure.ts";
import { ratio } from "./report.ts";
import type { Run } from "./scenarios.ts";

const before = (until: Date, days: number) =>
  new Date(until.getTime() - days * 24 * 3600 * 1000).toISOString();

/** The calls compared: an unfiltered search, 10 missions' activity, a month's daily histogram. */
function calls(run: Run): [id: string, title: string, calls: db.Call[]][] {
  const rounds = run.warmup + run.count;
  return [
    ["search", "search k=10", run.vectors.map((v) => db.searchCall(v))],
    [
      "activity",
      `mission_activity, 10 missions, newest ${db.PAGE_ROWS} rows`,
      db.missionIdSets(FIRST_MISSION_ID, run.missions, 10, rounds).map((ids) =>
        db.activityCall(ids)
      ),
    ],
    [
      "histogram",
      "event_histogram, 1 day over 30 days",
      [db.histogramCall("1 day", before(run.until, 30), run.until.toISOString())],
    ],
  ];
}

/**
 * Sets the state a variant runs in, changing only what differs from the last one set: every
 * foreign table's reltuples and relpages (fresh, or 1% of fresh) and whether its planner asks the
 * node (a table option, which postgres_fdw reads per plan without reconnecting).
 */
async function stateSetter(run: Run) {
  const tables = await run.db.admin`
    select c.oid::regclass::text as name, c.reltuples, c.relpages from pg_catalog.pg_class c
     where c.relnamespace = 'bridge'::regnamespace and c.relkind = 'f'`;
  let current = "fresh, local estimates";
  return (stale: boolean, nodeEstimates: boolean) => async () => {
    const wanted = `${stale ? "stale" : "fresh"}, ${nodeEstimates ? "node" : "local"} estimates`;
    if (wanted === current) return;
    for (const t of tables) {
      await run.db.admin`
        update pg_catalog.pg_class
           set reltuples = ${stale ? Math.floor(t.reltuples / 100) : t.reltuples},
               relpages = ${stale ? Math.floor(t.relpages / 100) : t.relpages}
         where oid = ${t.name}::regclass`;
      if (!current.endsWith(nodeEstimates ? "node estimates" : "local estimates")) {
        await run.db.admin.unsafe(
          `alter foreign table ${t.name} options (` +
            (nodeEstimates ? "add use_remote_estimate 'true')" : "drop use_remote_estimate)"),
        );
      }
    }
    current = wanted;
  };
}

/** The stale-statistics scenarios; leaves the statistics and options as it found them. */
async function staleStatistics(run: Run) {
  const set = await stateSetter(run);
  try {
    for (const [id, title, list] of calls(run)) {
      const measured = await interleave(`statistics_${id}`, list, run, [
        ["fresh", (call) => db.viaBridge(run.db.rpc, call), set(false, false)],
        ["stale", (call) => db.viaBridge(run.db.rpc, call), set(true, false)],
        ["fresh, node estimates", (call) => db.viaBridge(run.db.rpc, call), set(false, true)],
        ["stale, node estimates", (call) => db.viaBridge(run.db.rpc, call), set(true, true)],
      ]);
      const [fresh, stale, nodeFresh, nodeStale] = measured;
      run.report.scenario(
        `statistics_${id}`,
        `${title}, local statistics 100× stale vs fresh`,
        measured,
        [
          ratio(stale, fresh, `ratio_stale_statistics_${id}`),
          ratio(nodeStale, nodeFresh, `ratio_stale_node_estimates_${id}`),
          ratio(nodeFresh, fresh, `ratio_node_estimates_vs_local_${id}`),
        ],
        "stale: every foreign table's reltuples and relpages at 1% of fresh; node estimates: " +
          "use_remote_estimate on the foreign tables (the bridge plans from local statistics)",
      );
    }
  } finally {
    await set(false, false)();
  }
}

/**
 * A TCP proxy on a free local port in front of `port`, counting the bytes that cross it both
 * ways: the link's real traffic, TLS and all.
 */
function countingProxy(port: number) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let bytes = 0;
  const counted = () =>
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        bytes += chunk.byteLength;
        controller.enqueue(chunk);
      },
    });
  (async () => {
    for await (const client of listener) {
      const node = await Deno.connect({ hostname: "127.0.0.1", port });
      client.readable.pipeThrough(counted()).pipeTo(node.writable).catch(() => {});
      node.readable.pipeThrough(counted()).pipeTo(client.writable).catch(() => {});
    }
  })().catch(() => {});
  return { port: listener.addr.port, bytes: () => bytes, close: () => listener.close() };
}

/** Statements shaped like the bridge's, planned here on the counted foreign tables. */
const plannedStatements = (run: Run): [string, string, unknown][] => [
  [
    "search",
    `select e.event_time, e.event_embedding operator(extensions.<=>) $1::extensions.vector
       from bench_counted.events e where e.event_embedding is not null
      order by e.event_embedding operator(extensions.<=>) $1::extensions.vector limit 10`,
    run.vectors[0],
  ],
  [
    "activity",
    `select * from bench_counted.activity_log a where a.mission_id = any($1::bigint[])
      order by a.event_time desc limit ${db.PAGE_ROWS}`,
    db.missionIdSets(FIRST_MISSION_ID, run.missions, 10, 1)[0],
  ],
  [
    "histogram",
    `select date_bin('1 day', e.event_time, $1::timestamptz), e.event_type, count(*)
       from bench_counted.events e where e.event_time >= $1::timestamptz
      group by 1, 2`,
    before(run.until, 30),
  ],
];

/**
 * Runs `fn` while the node's export views report their row counts in pg_class.reltuples (a
 * superuser's catalog write, on the benchmark's own node only), then puts back the -1 every view
 * has.
 */
async function withViewRowCounts(run: Run, fn: () => Promise<void>) {
  const node = run.db.node;
  const views = ["events", "activity_log"];
  try {
    for (const view of views) {
      await node.unsafe(
        `update pg_catalog.pg_class set reltuples = (select count(*) from export.${view})
          where oid = 'export.${view}'::regclass`,
      );
    }
    await fn();
  } finally {
    for (const view of views) {
      await node.unsafe(
        `update pg_catalog.pg_class set reltuples = -1 where oid = 'export.${view}'::regclass`,
      );
    }
  }
}

/**
 * Bytes across the link: one `analyze` of the foreign tables (every remote row, PostgreSQL 15
 * and, through the export views, 16 and later too) against planning each statement with the
 * node's estimates (use_remote_estimate: EXPLAINs on the node, no rows).
 */
async function linkBytes(run: Run, stack: ThrowawayStack) {
  const sql = run.db.admin;
  const proxy = countingProxy(stack.config.timescalePort);
  try {
    await sql.unsafe(`create server bench_counted foreign data wrapper postgres_fdw
      options (host '127.0.0.1', port '${proxy.port}', dbname 'postgres', sslmode 'require',
               extensions 'vector', use_remote_estimate 'true')`);
    await sql.unsafe(`create user mapping for postgres server bench_counted
      options (user 'bridge_reader', password '${stack.env.BRIDGE_LINK_PASSWORD}')`);
    await sql`create schema bench_counted`;
    await sql`import foreign schema export from server bench_counted into bench_counted`;
    // Connected first, so the counts hold no connection set-up.
    await sql`select from bench_counted.activity_log limit 1`;
    const rows: (string | number)[][] = [];
    /** Runs `fn`, adds a row of the bytes it moved (KiB) and its seconds; returns the bytes. */
    const measure = async (what: string, fn: () => Promise<unknown>) => {
      const counted = proxy.bytes(), started = performance.now();
      await fn();
      const bytes = proxy.bytes() - counted;
      rows.push([what, bytes / 1024, (performance.now() - started) / 1000]);
      return bytes;
    };
    const analyzed = await measure(
      "analyze of both foreign tables",
      () => sql`analyze bench_counted.events, bench_counted.activity_log`,
    );
    log(`analyze moved ${(analyzed / 2 ** 20).toFixed(1)} MiB across the link`);
    run.report.metric("analyze_link_mib", analyzed / 2 ** 20);
    if (Number((await sql`show server_version_num`)[0].server_version_num) >= 160000) {
      // postgres_fdw 16+ samples on the node only when the remote relation's pg_class.reltuples
      // is positive, and a view's is -1 (docs/design.md § statistics decide LIMIT pushdown).
      // Measured here with the node's views given their sources' row counts, then given back -1.
      await withViewRowCounts(run, async () => {
        const sampled = await measure(
          "analyze of both foreign tables, the views reporting their row counts (16+ samples)",
          () => sql`analyze bench_counted.events, bench_counted.activity_log`,
        );
        log(`analyze moved ${(sampled / 2 ** 20).toFixed(1)} MiB when the node sampled`);
        run.report.metric("analyze_sampled_link_mib", sampled / 2 ** 20);
      });
    }
    for (const [id, statement, parameter] of plannedStatements(run)) {
      const planned = await measure(
        `planning the ${id} statement with the node's estimates`,
        () => sql.unsafe(`explain ${statement}`, [parameter] as never[]),
      );
      run.report.metric(`node_estimates_link_kib_${id}`, planned / 1024);
    }
    run.report.sections.push({
      title: "Statistics across the link",
      intro: "Bytes counted by a TCP proxy in front of the node (TLS included), on the " +
        "benchmark's own foreign tables of the export views: one `analyze` reads every row; " +
        "on PostgreSQL 16 and later it samples on the node once the views report a row count " +
        "(set on the node for this row only); the node's estimates (use_remote_estimate) send " +
        "EXPLAINs and read their plans.",
      header: ["what", "KiB", "seconds"],
      rows,
    });
  } finally {
    await sql`drop schema if exists bench_counted cascade`;
    await sql`drop server if exists bench_counted cascade`;
    proxy.close();
  }
}

/** Runs the stale-statistics scenarios, then the link's bytes. */
export async function statisticsScenarios(run: Run, stack: ThrowawayStack) {
  await staleStatistics(run);
  await linkBytes(run, stack);
}
