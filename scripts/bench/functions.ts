/**
 * The events-search Edge Function end to end (HTTP to the local gateway, JWT check, zod, its own
 * pool, the RPC) against the RPC alone, then its throughput with 1, 8 and 32 concurrent clients
 * against the RPC's called directly by as many clients through a pool of the function's size.
 */
import postgres from "postgres";
import type { Connections } from "./db.ts";
import { concurrently, interleave, summarize, type Throughput, type Variant } from "./measure.ts";
import { Report } from "./report.ts";
import { bridgeSearchSql, searchParams } from "./queries.ts";
import { bridgeSearch } from "./search.ts";
import { startGateway, type ThrowawayStack } from "../stack/throwaway.ts";

/** What the function scenarios need from a run. */
export interface FunctionsRun {
  db: Connections;
  report: Report;
  /** The gateway's base URL (SUPABASE_URL). */
  url: string;
  /** A key the function accepts: the stack's secret key (service_role), sent as supabase-js does. */
  token: string;
  /** Supabase's database URL, for the direct RPC's pool. */
  databaseUrl: string;
  vectors: string[];
  warmup: number;
  count: number;
}

/** The client counts of the throughput runs. */
export const CLIENT_COUNTS = [1, 8, 32];

/** functions/_shared/db.ts's pool size: the direct RPC gets as many connections. */
const FUNCTION_POOL_SIZE = 5;

/**
 * The RPC as the function makes it, minus HTTP: a pooled transaction that sets the role, then
 * public.search_events.
 */
function directRpc(databaseUrl: string) {
  const pool = postgres(databaseUrl, {
    prepare: false,
    max: FUNCTION_POOL_SIZE,
    onnotice: () => {},
    connection: { application_name: "fdw-bridge-bench" },
  });
  const call = (vector: string) =>
    pool.begin(async (tx) => {
      await tx`set local role service_role`;
      const rows = await tx.unsafe(bridgeSearchSql({}), searchParams(vector, 10, {}));
      if (rows.length !== 10) throw new Error(`expected 10 results, got ${rows.length}`);
    });
  return { call, end: () => pool.end({ timeout: 5 }) };
}

/** POSTs one search; throws unless the function answers 200 with 10 results. */
export async function callSearch(url: string, token: string, vector: string): Promise<number> {
  const response = await fetch(`${url}/functions/v1/events-search`, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      apikey: token,
      "Content-Type": "application/json",
    },
    body: `{"embedding":${vector},"k":10}`,
  }).catch((error) => {
    // fetch's own message ("fetch failed") hides the reason in its cause.
    throw new Error(`${error.message}: ${error.cause ?? "no cause given"}`);
  });
  const body = await response.text();
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${body.slice(0, 200)}`);
  const { count } = JSON.parse(body) as { count: number };
  if (count !== 10) throw new Error(`expected 10 results, got ${count}`);
  return count;
}

/**
 * Times the function against the RPC, interleaved, then runs each client count over at least
 * `count` calls and records calls per second, latency and `errors_at_<n>_clients`.
 */
export async function functionScenarios(run: FunctionsRun) {
  const viaFunction: Variant<string, number> = {
    name: "function",
    run: (vector) => callSearch(run.url, run.token, vector),
  };
  const rpc = bridgeSearch(run.db, {});
  const [fn, direct] = await interleave(
    "function_search",
    [viaFunction, { name: "rpc", run: async (vector, i) => (await rpc.run(vector, i)).length }],
    run.vectors,
    run.warmup,
    run.count,
  );
  const [f, r] = [summarize("function", fn.samples), summarize("rpc", direct.samples)];
  run.report.scenario("function_search", "events-search function vs the RPC alone", [f, r], {
    ratios: [{ label: "function / rpc (p50)", value: f.p50 / r.p50 }],
    note: "HTTP on 127.0.0.1 through scripts/serve-functions.ts, secret key (service_role)",
  });
  run.report.metric("ratio_function_vs_rpc", f.p50 / r.p50);

  const viaHttp = (i: number) =>
    callSearch(run.url, run.token, run.vectors[i % run.vectors.length]);
  const rpcPool = directRpc(run.databaseUrl);
  const viaRpc = (i: number) => rpcPool.call(run.vectors[i % run.vectors.length]);
  try {
    // Fills both pools and each pooled session's link before anything is timed.
    await concurrently("function warm-up", Math.max(...CLIENT_COUNTS), 64, viaHttp);
    await concurrently("direct rpc warm-up", Math.max(...CLIENT_COUNTS), 64, viaRpc);
    for (const clients of CLIENT_COUNTS) {
      const total = Math.max(run.count, clients * 25);
      const results = await sideBySide(clients, total, [["function", viaHttp], ["rpc", viaRpc]]);
      const [fn, rpc] = results;
      run.report.scenario(
        `throughput_${clients}`,
        `events-search, ${clients} concurrent client${clients > 1 ? "s" : ""}`,
        results.map((r) => ({
          ...summarize(r.name, r.samples),
          errors: r.errors,
          perSecond: r.perSecond,
        })),
        {
          ratios: [{ label: "function / rpc (calls/s)", value: fn.perSecond / rpc.perSecond }],
          note: results.map((r) =>
            `${r.name}: ${total} calls, ${r.perSecond.toFixed(1)} calls/s, ${r.errors} errors` +
            (r.firstError ? ` (first: ${r.firstError})` : "")
          ).join("; "),
        },
      );
      run.report.metric(`errors_at_${clients}_clients`, fn.errors + rpc.errors);
      run.report.metric(`calls_per_second_at_${clients}_clients`, fn.perSecond);
      run.report.metric(`rpc_calls_per_second_at_${clients}_clients`, rpc.perSecond);
      run.report.metric(
        `ratio_function_vs_rpc_calls_per_second_at_${clients}_clients`,
        fn.perSecond / rpc.perSecond,
      );
    }
  } finally {
    await rpcPool.end();
  }
}

/** The halves of each variant's throughput run, in this order: A, B, B, A. */
const HALVES = [0, 1, 1, 0];

/**
 * Throughput of each variant over `total` calls from `clients` clients, run side by side: each
 * variant's calls in two halves, A B B A, so a change in what else the machine does weighs on
 * both alike. Calls per second over the two halves together.
 */
async function sideBySide(
  clients: number,
  total: number,
  variants: [string, (index: number) => Promise<unknown>][],
) {
  const runs: Throughput[][] = variants.map(() => []);
  for (const [half, i] of HALVES.entries()) {
    const [name, call] = variants[i];
    const label = `${name}, ${clients} client${clients > 1 ? "s" : ""} (${half + 1}/4)`;
    runs[i].push(await concurrently(label, clients, total / 2, call));
  }
  return variants.map(([name], i) => ({
    name,
    samples: runs[i].flatMap((r) => r.samples),
    errors: runs[i].reduce((sum, r) => sum + r.errors, 0),
    firstError: runs[i].find((r) => r.firstError)?.firstError,
    perSecond: total / runs[i].reduce((sum, r) => sum + r.seconds, 0),
  }));
}

/**
 * Runs {@link functionScenarios} on a gateway of its own. A gateway that exits while in use would turn
 * every later call into an error, so the run stops there rather than report those numbers.
 */
export async function functionScenariosOnGateway(
  stack: ThrowawayStack,
  run: Omit<FunctionsRun, "url" | "token" | "databaseUrl">,
) {
  const gateway = await startGateway(stack);
  const report = new Report();
  try {
    await functionScenarios({
      ...run,
      report,
      url: gateway.url,
      token: JSON.parse(stack.env.SUPABASE_SECRET_KEYS).default,
      databaseUrl: stack.env.SUPABASE_DB_URL,
    });
  } finally {
    await gateway.stop();
  }
  if (gateway.exitedEarly()) {
    throw new Error("the functions gateway exited during the function scenarios; see its output");
  }
  run.report.merge(report);
}
