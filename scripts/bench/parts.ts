/**
 * Where a 3-day-window search's time goes: the RPC against its own statement run as a plain
 * foreign scan on Supabase, with fewer and fewer columns, and against the node. Interleaved on
 * the same query vectors, so each difference of p50s is one part:
 * - rpc − foreign scan: PL/pgSQL (public.search_events, bridge.nearest_events) and their planning;
 * - foreign scan − no distance: computing the 10 distances on Supabase;
 * - no distance − no embedding: fetching and parsing the 10 embeddings (~64 KiB as text);
 * - no embedding − node: postgres_fdw (local planning, its round trips and cursor) and the link;
 * - node: the node's own planning and execution, plus one client round trip.
 * The node's planning and execution alone come from EXPLAIN ANALYZE of the same statement.
 */
import type { Connections } from "./db.ts";
import { interleave, quantile, summarize, type Variant } from "./measure.ts";
import {
  bridgeSearchSql,
  directSearchSql,
  SEARCH_KEY_COLUMNS,
  type SearchFilters,
  searchParams,
} from "./queries.ts";
import type { Report } from "./report.ts";

/** What the breakdown needs from a run. */
export interface PartsRun {
  db: Connections;
  report: Report;
  vectors: string[];
  warmup: number;
  count: number;
  until: Date;
}

/** Runs the breakdown and records each part's p50 as `search_parts_<part>_ms`. */
export async function searchParts(run: PartsRun) {
  const filters: SearchFilters = {
    from: new Date(run.until.getTime() - 3 * 24 * 3600 * 1000).toISOString(),
  };
  const distance = "e.event_embedding operator(extensions.<=>) $1::extensions.vector as distance";
  const foreignScanSql = (columns: string) => directSearchSql(filters, "bridge.events", columns);
  const keys = SEARCH_KEY_COLUMNS;
  const params = (vector: string) => searchParams(vector, 10, filters);
  const onSupabase = (name: string, text: string): Variant<string, number> => ({
    name,
    run: async (vector) => (await run.db.supabaseAdmin.unsafe(text, params(vector))).length,
  });
  const variants: Variant<string, number>[] = [
    {
      name: "rpc",
      run: async (v) => (await run.db.rpc.unsafe(bridgeSearchSql(filters), params(v))).length,
    },
    onSupabase("foreign scan", foreignScanSql(`${keys}, ${distance}`)),
    onSupabase("no distance", foreignScanSql(`${keys}, e.event_embedding`)),
    onSupabase("no embedding", foreignScanSql(keys)),
    {
      name: "node",
      run: async (v) => (await run.db.direct.unsafe(directSearchSql(filters), params(v))).length,
    },
  ];
  // As bridge.nearest_events: the ORDER BY … LIMIT must go to the node, never a local sort.
  await run.db.supabaseAdmin`set enable_sort = off`;
  try {
    const measured = await interleave(
      "search_parts",
      variants,
      run.vectors,
      run.warmup,
      run.count,
    );
    const summaries = measured.map((m) => summarize(m.name, m.samples));
    const p50 = Object.fromEntries(summaries.map((s) => [s.name, s.p50]));
    const explained = await nodePlanAndExecution(run, filters);
    const parts: [string, number][] = [
      ["PL/pgSQL (rpc − foreign scan)", p50.rpc - p50["foreign scan"]],
      ["local distance (foreign scan − no distance)", p50["foreign scan"] - p50["no distance"]],
      [
        "10 embeddings fetched and parsed (no distance − no embedding)",
        p50["no distance"] - p50["no embedding"],
      ],
      ["postgres_fdw and the link (no embedding − node)", p50["no embedding"] - p50.node],
      ["node planning (EXPLAIN ANALYZE)", explained.planning],
      ["node execution (EXPLAIN ANALYZE)", explained.execution],
      [
        "client round trip to the node (node − planning − execution)",
        p50.node - explained.planning - explained.execution,
      ],
    ];
    run.report.scenario("search_parts", "search k=10, last 3 days, broken down", summaries, {
      note: parts.map(([part, ms]) => `${part}: ${ms.toFixed(2)} ms`).join("; "),
    });
    for (const [part, ms] of parts) {
      run.report.metric(`search_parts_${part.replace(/ \(.*$/, "").replace(/\W+/g, "_")}_ms`, ms);
    }
  } finally {
    await run.db.supabaseAdmin`reset enable_sort`;
  }
}

/** The node's median planning and execution time of the statement, over 50 query vectors. */
async function nodePlanAndExecution(run: PartsRun, filters: SearchFilters) {
  const planning: number[] = [], execution: number[] = [];
  for (const vector of run.vectors.slice(0, 50)) {
    const lines = await run.db.direct.unsafe<{ "QUERY PLAN": string }[]>(
      `explain (analyze, timing off, summary on) ${directSearchSql(filters)}`,
      searchParams(vector, 10, filters),
    );
    const time = (label: string) =>
      Number(
        lines.map((l) => l["QUERY PLAN"]).find((l) => l.startsWith(label))?.match(/([\d.]+) ms/)
          ?.[1],
      );
    planning.push(time("Planning Time"));
    execution.push(time("Execution Time"));
  }
  return { planning: quantile(planning, 0.5), execution: quantile(execution, 0.5) };
}
