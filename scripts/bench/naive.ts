/**
 * The naive configuration, for comparison: a second postgres_fdw server to the same node without
 * `extensions 'vector'`, as the seed's DDL had it. Its foreign table cannot ship the distance
 * operator, so a top-k search pulls every row across the link and sorts on Supabase
 * (DESIGN.md fact 1). Created on the benchmark's own stack only, by the benchmark.
 */
import type { ThrowawayStack } from "../stack/throwaway.ts";
import type { Connections } from "./db.ts";
import { interleave, summarize } from "./measure.ts";
import type { Report } from "./report.ts";
import { bridgeSearch, directSearch } from "./search.ts";

/** The naive foreign table: export.events through the server without extensions. */
export const naiveTable = "bench_naive.events";

/** Creates server events_ts_naive, its user mapping and the foreign table bench_naive.events. */
export async function createNaiveServer(db: Connections, stack: ThrowawayStack) {
  const sql = db.supabaseAdmin;
  const port = String(stack.config.timescalePort);
  await sql.unsafe(
    `create server if not exists events_ts_naive foreign data wrapper postgres_fdw
       options (host '127.0.0.1', port '${port}', dbname 'postgres', sslmode 'require')`,
  );
  await sql.unsafe(
    `create user mapping if not exists for postgres server events_ts_naive
       options (user 'bridge_reader', password '${stack.env.BRIDGE_LINK_PASSWORD}')`,
  );
  await sql.unsafe("create schema if not exists bench_naive");
  // The node's own description of the view, as the bridge's foreign table mirrors it.
  await sql.unsafe(
    "import foreign schema export limit to (events) from server events_ts_naive into bench_naive",
  );
}

/**
 * Times the naive search against the bridge on `count` queries, interleaved, after one warm-up
 * round, and records the ratio naive / bridge.
 */
export async function naiveScenario(
  db: Connections,
  report: Report,
  vectors: string[],
  count: number,
) {
  const [naive, bridge] = await interleave(
    "search_naive",
    [directSearch("naive", db.supabaseAdmin, {}, naiveTable), bridgeSearch(db, {})],
    vectors,
    1,
    count,
  );
  const [n, b] = [summarize("naive", naive.samples), summarize("bridge", bridge.samples)];
  report.scenario("search_naive", "search k=10, naive server (no extensions 'vector')", [n, b], {
    ratios: [{ label: "naive / bridge (p50)", value: n.p50 / b.p50 }],
    note: `${count} queries: each pulls every event across the link`,
  });
  report.metric("ratio_naive_vs_bridge", n.p50 / b.p50);
}
