/**
 * Timing: compared variants run interleaved after a warm-up (williamsOrders), so whatever else
 * the machine does at a moment slows them alike; summaries are p50 and p95 in milliseconds.
 */
import { progress } from "./progress.ts";

/** One way of answering a query, timed against the others of its scenario. */
export interface Variant<Q, R> {
  name: string;
  run: (query: Q, index: number) => Promise<R>;
}

/** What a variant measured: its latencies in ms, and each timed call's query and result. */
export interface Measured<Q, R> {
  name: string;
  samples: number[];
  queries: Q[];
  results: R[];
}

/** A latency summary, in milliseconds. */
export interface Summary {
  name: string;
  n: number;
  p50: number;
  p95: number;
  mean: number;
  /** Only for throughput runs. */
  errors?: number;
  perSecond?: number;
}

/**
 * The q-quantile (0..1) of `values`, interpolated between the closest ranks.
 *
 * @example
 * quantile([1, 2, 3, 4], 0.5); // 2.5
 */
export function quantile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = (sorted.length - 1) * q;
  const low = Math.floor(rank), high = Math.ceil(rank);
  return sorted[low] + (sorted[high] - sorted[low]) * (rank - low);
}

/** p50, p95 and mean of a variant's samples. */
export function summarize(name: string, samples: readonly number[]): Summary {
  const mean = samples.reduce((sum, x) => sum + x, 0) / samples.length;
  return {
    name,
    n: samples.length,
    p50: quantile(samples, 0.5),
    p95: quantile(samples, 0.95),
    mean,
  };
}

/**
 * The orders a round runs `n` variants in, cycled through round by round: a Williams design, in
 * which each variant goes first equally often and follows each other variant equally often.
 * Both matter: the first variant to meet a query pays for bringing its data into cache (a new
 * region of the HNSW graph, ~2.5 ms on the full dataset), and a variant that reads a lot evicts
 * what the next one needs (the event_time walk slowed the call after it by ~0.7 ms). For two
 * variants this is A, B, B, A.
 *
 * @example
 * williamsOrders(4); // [[0, 1, 3, 2], [1, 2, 0, 3], [2, 3, 1, 0], [3, 0, 2, 1]]
 */
export function williamsOrders(n: number): number[][] {
  const first = [0];
  for (let low = 1, high = n - 1; first.length < n;) {
    first.push(first.length % 2 ? low++ : high--);
  }
  const rows = Array.from({ length: n }, (_, shift) => first.map((v) => (v + shift) % n));
  return n % 2 ? [...rows, ...rows.map((row) => [...row].reverse())] : rows;
}

/**
 * Runs `warmup` untimed rounds, then `count` timed rounds; each round runs every variant once
 * on the same query, in the orders of {@link williamsOrders}. Query i is
 * `queries[i % queries.length]`.
 *
 * @example
 * const [bridge, direct] = await interleave("search", [bridgeVariant, directVariant], vectors, 20, 200);
 */
export async function interleave<Q, R>(
  label: string,
  variants: readonly Variant<Q, R>[],
  queries: readonly Q[],
  warmup: number,
  count: number,
): Promise<Measured<Q, R>[]> {
  const measured: Measured<Q, R>[] = variants.map((v) => ({
    name: v.name,
    samples: [],
    queries: [],
    results: [],
  }));
  const bar = progress(label, warmup + count);
  const orders = williamsOrders(variants.length);
  for (let round = 0; round < warmup + count; round++) {
    const query = queries[round % queries.length];
    for (const i of orders[round % orders.length]) {
      const variant = variants[i];
      const started = performance.now();
      const result = await variant.run(query, round);
      const elapsed = performance.now() - started;
      if (round >= warmup) {
        measured[i].samples.push(elapsed);
        measured[i].queries.push(query);
        measured[i].results.push(result);
      }
    }
    bar.update(round + 1);
  }
  bar.finish(
    measured.map((m) => `${m.name} p50 ${quantile(m.samples, 0.5).toFixed(2)} ms`).join(", "),
  );
  return measured;
}

/** What a throughput run saw: latencies of the successful calls, errors, calls per second. */
export interface Throughput {
  samples: number[];
  errors: number;
  firstError?: string;
  perSecond: number;
  seconds: number;
}

/**
 * Keeps `clients` calls in flight until `total` calls have been made; a call that throws counts
 * as an error (the first one's message is kept).
 *
 * @example
 * const { perSecond, errors } = await concurrently("32 clients", 32, 800, (i) => call(i));
 */
export async function concurrently(
  label: string,
  clients: number,
  total: number,
  call: (index: number) => Promise<unknown>,
): Promise<Throughput> {
  const samples: number[] = [];
  let issued = 0, errors = 0, done = 0;
  let firstError: string | undefined;
  const bar = progress(label, total);
  const started = performance.now();
  const client = async () => {
    while (issued < total) {
      const index = issued++;
      const t0 = performance.now();
      try {
        await call(index);
        samples.push(performance.now() - t0);
      } catch (error) {
        errors++;
        firstError ??= (error as Error).message;
      }
      bar.update(++done);
    }
  };
  await Promise.all(Array.from({ length: clients }, client));
  const seconds = (performance.now() - started) / 1000;
  const perSecond = total / seconds;
  bar.finish(`${perSecond.toFixed(1)} calls/s, ${errors} errors`);
  return { samples, errors, firstError, perSecond, seconds };
}
