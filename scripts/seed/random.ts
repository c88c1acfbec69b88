/**
 * mulberry32: a tiny, fast pseudo-random generator, good enough for demo data and benchmark
 * queries. Integer operations only, so a seed gives the same numbers on every engine.
 *
 * @example
 * const next = mulberry32(42);
 * next(); // a number in [0, 1), the same one every run
 */
export function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
