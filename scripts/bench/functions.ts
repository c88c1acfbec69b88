/**
 * The events-search Edge Function end to end (HTTP to the local gateway, JWT check, zod, its own
 * pool, the RPC) against its handler called in this process and the RPC alone, then the
 * throughput of the three with 1, 8 and 32 concurrent clients.
 */
import postgres from "postgres";
import { hostedFunctionEnv } from "../stack/env.ts";
import { startGateway, type ThrowawayStack } from "../stack/throwaway.ts";
import { searchCall } from "./db.ts";
import { concurrently, interleave, summarize, type Variant } from "./measure.ts";
import { ratio } from "./report.ts";
import type { Run } from "./scenarios.ts";

/** The client counts of the throughput runs. */
const CLIENT_COUNTS = [1, 8, 32];

/** functions/_shared/db.ts's pool size: the direct RPC gets as many connections. */
const FUNCTION_POOL_SIZE = 5;

/** One search as supabase-js sends it, with the secret key (service_role). */
const searchRequest = (endpoint: string, key: string, vector: string) =>
  new Request(endpoint, {
    method: "POST",
    headers: { Authorization: `Bearer ${key}`, apikey: key, "Content-Type": "application/json" },
    body: `{"embedding":${vector},"k":10}`,
  });

/** Throws unless the function answered 200 with 10 results. */
async function expectTen(response: Response) {
  const body = await response.text();
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${body.slice(0, 200)}`);
  const { count } = JSON.parse(body) as { count: number };
  if (count !== 10) throw new Error(`expected 10 results, got ${count}`);
}

/**
 * The three ways to search: the function through the gateway; its handler loaded into this
 * process with the variables a hosted project gives it (the function without HTTP, which splits
 * its own cost from the gateway's, HTTP on loopback standing in for the platform's router); and
 * the RPC as the function makes it, a pooled transaction setting the role.
 */
async function searchers(stack: ThrowawayStack, url: string) {
  const key = JSON.parse(stack.env.SUPABASE_SECRET_KEYS).default;
  for (const [name, value] of Object.entries(hostedFunctionEnv(stack.env))) {
    Deno.env.set(name, value);
  }
  const { default: handler } = await import("../../functions/events-search/index.ts");
  const { closeDatabase } = await import("../../functions/_shared/db.ts");
  const pool = postgres(stack.env.SUPABASE_DB_URL, {
    prepare: false,
    max: FUNCTION_POOL_SIZE,
    onnotice: () => {},
    connection: { application_name: "fdw-bridge-bench" },
  });
  const calls: Variant<string>[] = [
    ["function", async (vector) => {
      const request = searchRequest(`${url}/functions/v1/events-search`, key, vector);
      // fetch's own message ("fetch failed") hides the reason in its cause.
      await expectTen(
        await fetch(request).catch((error) => {
          throw new Error(`${error.message}: ${error.cause ?? "no cause given"}`);
        }),
      );
    }],
    // The path a deployed function sees: the gateway strips /functions/v1.
    [
      "in process",
      async (vector) =>
        await expectTen(await handler.fetch(searchRequest(`${url}/events-search`, key, vector))),
    ],
    ["rpc", (vector) =>
      pool.begin(async (tx) => {
        await tx`set local role service_role`;
        const { rpc, params } = searchCall(vector);
        const rows = await tx.unsafe(rpc, params);
        if (rows.length !== 10) throw new Error(`expected 10 results, got ${rows.length}`);
      })],
  ];
  return { calls, end: () => Promise.all([pool.end({ timeout: 5 }), closeDatabase()]) };
}

/**
 * Times the three interleaved, then runs each client count over at least `count` calls each,
 * every variant's calls in two halves (A B C C B A) so a change in what else the machine does
 * weighs on all alike, and records calls per second, latency and `errors_at_<n>_clients`. A
 * gateway that exits while in use would turn every later call into an error, so the run stops
 * there rather than report those numbers.
 */
export async function functionScenarios(run: Run, stack: ThrowawayStack) {
  const gateway = await startGateway(stack);
  const { calls, end } = await searchers(stack, gateway.url);
  try {
    const measured = await interleave("function_search", run.vectors, run, calls);
    const [fn, own, rpc] = measured;
    run.report.scenario(
      "function_search",
      "events-search function vs the RPC alone",
      measured,
      [ratio(fn, rpc, "ratio_function_vs_rpc"), ratio(own, rpc)],
      "function: HTTP on 127.0.0.1 through scripts/serve-functions.ts (the stand-in for the " +
        "platform's router), secret key (service_role); in process: its handler called directly; " +
        `ours ${(own.p50 - rpc.p50).toFixed(2)} ms, ` +
        `the gateway's ${(fn.p50 - own.p50).toFixed(2)} ms`,
    );

    const byIndex = calls.map(([name, call]) =>
      [name, (i: number) => call(run.vectors[i % run.vectors.length])] as const
    );
    // Fills every pool and each pooled session's link before anything is timed.
    for (const [name, call] of byIndex) {
      await concurrently(`${name} warm-up`, Math.max(...CLIENT_COUNTS), 64, call);
    }
    for (const clients of CLIENT_COUNTS) {
      const total = Math.max(run.count, clients * 25), at = `at_${clients}_clients`;
      const plural = `client${clients > 1 ? "s" : ""}`;
      const runs: Awaited<ReturnType<typeof concurrently>>[][] = [[], [], []];
      for (const [half, i] of [0, 1, 2, 2, 1, 0].entries()) {
        const [name, call] = byIndex[i];
        const label = `${name}, ${clients} ${plural} (${half + 1}/6)`;
        runs[i].push(await concurrently(label, clients, total / 2, call));
      }
      const results = byIndex.map(([name], i) => ({
        ...summarize(name, runs[i].flatMap((r) => r.samples)),
        errors: runs[i].reduce((sum, r) => sum + r.errors, 0),
        perSecond: total / runs[i].reduce((sum, r) => sum + r.seconds, 0),
        firstError: runs[i].find((r) => r.firstError)?.firstError,
      }));
      const [f, h, r] = results;
      run.report.scenario(
        `throughput_${clients}`,
        `events-search, ${clients} concurrent ${plural}`,
        results,
        [
          ratio(f, r, `ratio_function_vs_rpc_calls_per_second_${at}`, "perSecond"),
          ratio(h, r, `ratio_in_process_vs_rpc_calls_per_second_${at}`, "perSecond"),
        ],
        results.map((v) =>
          `${v.name}: ${total} calls, ${v.perSecond.toFixed(1)} calls/s, ${v.errors} errors` +
          (v.firstError ? ` (first: ${v.firstError})` : "")
        ).join("; "),
      );
      run.report.metric(`errors_${at}`, f.errors + h.errors + r.errors);
      run.report.metric(`calls_per_second_${at}`, f.perSecond);
      run.report.metric(`in_process_calls_per_second_${at}`, h.perSecond);
      run.report.metric(`rpc_calls_per_second_${at}`, r.perSecond);
    }
  } finally {
    await end();
    await gateway.stop();
  }
  if (gateway.exitedEarly()) {
    throw new Error("the functions gateway exited during the function scenarios; see its output");
  }
}
