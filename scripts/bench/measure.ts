/**
 * Timing: compared variants run interleaved after a warm-up (williamsOrders), so whatever else
 * the machine does at a moment slows them alike; summaries are p50 and p95 in milliseconds.
 * Progress goes to stderr: a count redrawn on a terminal, a line per finished step otherwise.
 */

/** A line on stderr, prefixed like the other scripts' logs. */
export const log = (message: string) => console.error(`bench: ${message}`);

/** Progress through `total` rounds of `label`; `finish` logs its summary and duration. */
function progress(label: string, total: number) {
  const tty = Deno.stderr.isTerminal(), started = performance.now();
  const draw = (text: string) =>
    Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K${text}`));
  if (!tty) log(`${label}: ${total} rounds...`);
  return {
    update(done: number) {
      if (tty && done % 10 === 0) draw(`bench: ${label} ${done}/${total}`);
    },
    finish(summary: string) {
      if (tty) draw("");
      log(`${label}: ${summary} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    },
  };
}

/** The q-quantile (0..1) of `values`, interpolated between the closest ranks. */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (sorted.length - 1) * q, low = Math.floor(rank), high = Math.ceil(rank);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
}

/** A variant's latency summary in ms; throughput runs add calls per second and errors. */
export interface Summary {
  name: string;
  n: number;
  p50: number;
  p95: number;
  perSecond?: number;
  errors?: number;
}

export const summarize = (name: string, samples: number[]): Summary => ({
  name,
  n: samples.length,
  p50: quantile(samples, 0.5),
  p95: quantile(samples, 0.95),
});

/**
 * The orders a round runs `n` variants in, cycled through round by round: a Williams design, in
 * which each variant goes first equally often and follows each other variant equally often.
 * Both matter: the first variant to meet a query pays for bringing its data into cache (a new
 * region of the HNSW graph, ~2.5 ms on the full dataset), and a variant that reads a lot evicts
 * what the next one needs (the event_time walk slowed the call after it by ~0.7 ms). For two
 * variants this is A, B, B, A; williamsOrders(4) is [[0, 1, 3, 2], [1, 2, 0, 3], [2, 3, 1, 0],
 * [3, 0, 2, 1]].
 */
function williamsOrders(n: number): number[][] {
  const first = [0];
  for (let low = 1, high = n - 1; first.length < n;) first.push(first.length % 2 ? low++ : high--);
  const rows = first.map((_, shift) => first.map((v) => (v + shift) % n));
  return n % 2 ? [...rows, ...rows.map((row) => [...row].reverse())] : rows;
}

/**
 * A way of answering a query, by name, timed against the others of its scenario; `prepare`, if
 * given, runs before each of its calls, untimed (e.g. to set the state the variant measures).
 */
export type Variant<Q> = [
  name: string,
  run: (query: Q) => Promise<unknown>,
  prepare?: () => Promise<unknown>,
];

/** What a variant measured, with each timed call's query and result. */
export interface Measured<Q> extends Summary {
  queries: Q[];
  results: unknown[];
}

/**
 * Runs `warmup` untimed rounds, then `count` timed rounds; each round runs every variant once
 * on the same query (query i is `queries[i % queries.length]`), in Williams orders.
 */
export async function interleave<Q>(
  label: string,
  queries: Q[],
  { warmup, count }: { warmup: number; count: number },
  variants: Variant<Q>[],
): Promise<Measured<Q>[]> {
  const samples: number[][] = variants.map(() => []);
  const asked: Q[][] = variants.map(() => []);
  const results: unknown[][] = variants.map(() => []);
  const bar = progress(label, warmup + count);
  const orders = williamsOrders(variants.length);
  for (let round = 0; round < warmup + count; round++) {
    const query = queries[round % queries.length];
    for (const i of orders[round % orders.length]) {
      await variants[i][2]?.();
      const started = performance.now();
      const result = await variants[i][1](query);
      if (round < warmup) continue;
      samples[i].push(performance.now() - started);
      asked[i].push(query);
      results[i].push(result);
    }
    bar.update(round + 1);
  }
  const measured = variants.map(([name], i) => ({
    ...summarize(name, samples[i]),
    queries: asked[i],
    results: results[i],
  }));
  bar.finish(measured.map((m) => `${m.name} p50 ${m.p50.toFixed(2)} ms`).join(", "));
  return measured;
}

/**
 * Keeps `clients` calls in flight until `total` calls have been made; a call that throws counts
 * as an error (the first one's message is kept).
 */
export async function concurrently(
  label: string,
  clients: number,
  total: number,
  call: (index: number) => Promise<unknown>,
) {
  const samples: number[] = [];
  let issued = 0, errors = 0, firstError: string | undefined;
  const bar = progress(label, total), started = performance.now();
  const client = async () => {
    while (issued < total) {
      const index = issued++, callStarted = performance.now();
      try {
        await call(index);
        samples.push(performance.now() - callStarted);
      } catch (error) {
        errors++;
        firstError ??= (error as Error).message;
      }
      bar.update(samples.length + errors);
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  const seconds = (performance.now() - started) / 1000;
  bar.finish(`${(total / seconds).toFixed(1)} calls/s, ${errors} errors`);
  return { samples, errors, firstError, seconds };
}
