/**
 * The events-search Edge Function end to end (HTTP to the local gateway, JWT check, zod, its own
 * pool, the RPC) against the RPC alone, then its throughput with 1, 8 and 32 concurrent clients.
 */
import type { Connections } from "./db.ts";
import { concurrently, interleave, summarize, type Variant } from "./measure.ts";
import { Report } from "./report.ts";
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
  vectors: string[];
  warmup: number;
  count: number;
}

/** The client counts of the throughput runs. */
export const CLIENT_COUNTS = [1, 8, 32];

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
    ratio: { label: "function / rpc (p50)", value: f.p50 / r.p50 },
    note: "HTTP on 127.0.0.1 through scripts/serve-functions.ts, secret key (service_role)",
  });
  run.report.metric("ratio_function_vs_rpc", f.p50 / r.p50);

  const call = (i: number) => callSearch(run.url, run.token, run.vectors[i % run.vectors.length]);
  // Fills the function's pool and each pooled session's link before anything is timed.
  await concurrently("function warm-up", Math.max(...CLIENT_COUNTS), 64, call);
  for (const clients of CLIENT_COUNTS) {
    const total = Math.max(run.count, clients * 25);
    const result = await concurrently(`${clients} clients`, clients, total, call);
    const summary = {
      ...summarize("function", result.samples),
      errors: result.errors,
      perSecond: result.perSecond,
    };
    run.report.scenario(
      `throughput_${clients}`,
      `events-search, ${clients} concurrent client${clients > 1 ? "s" : ""}`,
      [summary],
      {
        note: `${total} calls, ${result.perSecond.toFixed(1)} calls/s, ${result.errors} errors` +
          (result.firstError ? ` (first: ${result.firstError})` : ""),
      },
    );
    run.report.metric(`errors_at_${clients}_clients`, result.errors);
    run.report.metric(`calls_per_second_at_${clients}_clients`, result.perSecond);
  }
}

/**
 * Runs {@link functionScenarios} on a gateway of its own. A gateway that exits while in use would turn
 * every later call into an error, so the run stops there rather than report those numbers.
 */
export async function functionScenariosOnGateway(
  stack: ThrowawayStack,
  run: Omit<FunctionsRun, "url" | "token">,
) {
  const gateway = await startGateway(stack);
  const report = new Report();
  try {
    await functionScenarios({
      ...run,
      report,
      url: gateway.url,
      token: JSON.parse(stack.env.SUPABASE_SECRET_KEYS).default,
    });
  } finally {
    await gateway.stop();
  }
  if (gateway.exitedEarly()) {
    throw new Error("the functions gateway exited during the function scenarios; see its output");
  }
  run.report.merge(report);
}
