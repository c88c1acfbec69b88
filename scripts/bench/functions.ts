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
import { hostedFunctionEnv } from "../stack/env.ts";
import { startGateway, type ThrowawayStack } from "../stack/throwaway.ts";

/** What the function scenarios need from a run. */
export interface FunctionsRun {
  db: Connections;
  report: Report;
  /** The gateway's base URL (SUPABASE_URL). */
  url: string;
  /** A key the function accepts: the stack's secret key (service_role), sent as supabase-js does. */
  token: string;
  /** The stack's variables: the direct RPC's pool and the function's handler in process. */
  env: Record<string, string>;
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
  const call = (vector: string): Promise<unknown> =>
    pool.begin(async (tx) => {
      await tx`set local role service_role`;
      const rows = await tx.unsafe(bridgeSearchSql({}), searchParams(vector, 10, {}));
      if (rows.length !== 10) throw new Error(`expected 10 results, got ${rows.length}`);
    });
  return { call, end: () => pool.end({ timeout: 5 }) };
}

/**
 * One search as supabase-js sends it to `endpoint`, with the secret key (service_role).
 */
function searchRequest(endpoint: string, token: string, vector: string): Request {
  return new Request(endpoint, {
    method: "POST",
    headers: {
      Authorization: `Bearer ${token}`,
      apikey: token,
      "Content-Type": "application/json",
    },
    body: `{"embedding":${vector},"k":10}`,
  });
}

/** The function's answer's count; throws unless it is 200 with 10 results. */
async function searchCount(response: Response): Promise<number> {
  const body = await response.text();
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${body.slice(0, 200)}`);
  const { count } = JSON.parse(body) as { count: number };
  if (count !== 10) throw new Error(`expected 10 results, got ${count}`);
  return count;
}

/** POSTs one search; throws unless the function answers 200 with 10 results. */
export async function callSearch(url: string, token: string, vector: string): Promise<number> {
  const endpoint = `${url}/functions/v1/events-search`;
  const response = await fetch(searchRequest(endpoint, token, vector)).catch((error) => {
    // fetch's own message ("fetch failed") hides the reason in its cause.
    throw new Error(`${error.message}: ${error.cause ?? "no cause given"}`);
  });
  return await searchCount(response);
}

/**
 * The function's handler loaded into this process with the variables a hosted project gives
 * it: the function without HTTP. Beside the function through the gateway and the RPC alone, it
 * splits the function's own cost (verifying the caller, zod, its pool, the answer) from the
 * gateway's, HTTP on loopback, which stands in for the platform's router.
 */
async function inProcess(env: Record<string, string>, url: string, token: string) {
  for (const [name, value] of Object.entries(hostedFunctionEnv(env))) Deno.env.set(name, value);
  const { default: handler } = await import("../../functions/events-search/index.ts");
  const { closeDatabase } = await import("../../functions/_shared/db.ts");
  return {
    call: async (vector: string) =>
      // The path a deployed function sees: the gateway strips /functions/v1.
      await searchCount(await handler.fetch(searchRequest(`${url}/events-search`, token, vector))),
    end: closeDatabase,
  };
}

/**
 * Times the function through the gateway, its handler in process and the RPC alone,
 * interleaved, then runs each client count over at least `count` calls each and records calls
 * per second, latency and `errors_at_<n>_clients`.
 */
export async function functionScenarios(run: FunctionsRun) {
  const handler = await inProcess(run.env, run.url, run.token);
  const rpcPool = directRpc(run.env.SUPABASE_DB_URL);
  const calls: [string, (vector: string) => Promise<unknown>][] = [
    ["function", (vector) => callSearch(run.url, run.token, vector)],
    ["in process", handler.call],
    ["rpc", rpcPool.call],
  ];
  try {
    const measured = await interleave(
      "function_search",
      calls.map(([name, call]): Variant<string, unknown> => ({ name, run: call })),
      run.vectors,
      run.warmup,
      run.count,
    );
    const [f, h, r] = measured.map((m) => summarize(m.name, m.samples));
    run.report.scenario("function_search", "events-search function vs the RPC alone", [f, h, r], {
      ratios: [
        { label: "function / rpc (p50)", value: f.p50 / r.p50 },
        { label: "in process / rpc (p50)", value: h.p50 / r.p50 },
      ],
      note: "function: HTTP on 127.0.0.1 through scripts/serve-functions.ts (the stand-in for " +
        "the platform's router), secret key (service_role); in process: its handler called " +
        `directly; ours ${(h.p50 - r.p50).toFixed(2)} ms, the gateway's ` +
        `${(f.p50 - h.p50).toFixed(2)} ms`,
    });
    run.report.metric("ratio_function_vs_rpc", f.p50 / r.p50);

    const byIndex = calls.map(([name, call]): [string, (i: number) => Promise<unknown>] => [
      name,
      (i) => call(run.vectors[i % run.vectors.length]),
    ]);
    // Fills every pool and each pooled session's link before anything is timed.
    for (const [name, call] of byIndex) {
      await concurrently(`${name} warm-up`, Math.max(...CLIENT_COUNTS), 64, call);
    }
    for (const clients of CLIENT_COUNTS) {
      const total = Math.max(run.count, clients * 25);
      const results = await sideBySide(clients, total, byIndex);
      const [fn, own, rpc] = results;
      run.report.scenario(
        `throughput_${clients}`,
        `events-search, ${clients} concurrent client${clients > 1 ? "s" : ""}`,
        results.map((r) => ({
          ...summarize(r.name, r.samples),
          errors: r.errors,
          perSecond: r.perSecond,
        })),
        {
          ratios: [
            { label: "function / rpc (calls/s)", value: fn.perSecond / rpc.perSecond },
            { label: "in process / rpc (calls/s)", value: own.perSecond / rpc.perSecond },
          ],
          note: results.map((r) =>
            `${r.name}: ${total} calls, ${r.perSecond.toFixed(1)} calls/s, ${r.errors} errors` +
            (r.firstError ? ` (first: ${r.firstError})` : "")
          ).join("; "),
        },
      );
      run.report.metric(`errors_at_${clients}_clients`, fn.errors + own.errors + rpc.errors);
      run.report.metric(`calls_per_second_at_${clients}_clients`, fn.perSecond);
      run.report.metric(`in_process_calls_per_second_at_${clients}_clients`, own.perSecond);
      run.report.metric(`rpc_calls_per_second_at_${clients}_clients`, rpc.perSecond);
      run.report.metric(
        `ratio_function_vs_rpc_calls_per_second_at_${clients}_clients`,
        fn.perSecond / rpc.perSecond,
      );
      run.report.metric(
        `ratio_in_process_vs_rpc_calls_per_second_at_${clients}_clients`,
        own.perSecond / rpc.perSecond,
      );
    }
  } finally {
    await rpcPool.end();
    await handler.end();
  }
}

/**
 * Throughput of each variant over `total` calls from `clients` clients, run side by side: each
 * variant's calls in two halves, A B C C B A, so a change in what else the machine does weighs
 * on all alike. Calls per second over the two halves together.
 */
async function sideBySide(
  clients: number,
  total: number,
  variants: [string, (index: number) => Promise<unknown>][],
) {
  const keys = [...variants.keys()];
  const halves = [...keys, ...keys.reverse()];
  const runs: Throughput[][] = variants.map(() => []);
  for (const [half, i] of halves.entries()) {
    const [name, call] = variants[i];
    const label = `${name}, ${clients} client${clients > 1 ? "s" : ""} ` +
      `(${half + 1}/${halves.length})`;
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
  run: Omit<FunctionsRun, "url" | "token" | "env">,
) {
  const gateway = await startGateway(stack);
  const report = new Report();
  try {
    await functionScenarios({
      ...run,
      report,
      url: gateway.url,
      token: JSON.parse(stack.env.SUPABASE_SECRET_KEYS).default,
      env: stack.env,
    });
  } finally {
    await gateway.stop();
  }
  if (gateway.exitedEarly()) {
    throw new Error("the functions gateway exited during the function scenarios; see its output");
  }
  run.report.merge(report);
}
