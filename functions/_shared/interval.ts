/**
 * Histogram bucket widths: the intervals people chart events by, from ten seconds to a week,
 * each with its length, so the number of buckets a request makes is known before anything
 * reaches the database. bridge.histogram_buckets() holds the same set for direct RPC callers; a
 * test compares the two.
 */

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** Each bucket the histogram accepts, as PostgreSQL reads it, and its length in milliseconds. */
export const BUCKET_MS = {
  "10 seconds": 10 * SECOND,
  "30 seconds": 30 * SECOND,
  "1 minute": MINUTE,
  "5 minutes": 5 * MINUTE,
  "10 minutes": 10 * MINUTE,
  "15 minutes": 15 * MINUTE,
  "30 minutes": 30 * MINUTE,
  "1 hour": HOUR,
  "3 hours": 3 * HOUR,
  "6 hours": 6 * HOUR,
  "12 hours": 12 * HOUR,
  "1 day": DAY,
  "7 days": 7 * DAY,
} as const;

export type Bucket = keyof typeof BUCKET_MS;

/** The buckets, narrowest first. */
export const BUCKETS = Object.keys(BUCKET_MS) as [Bucket, ...Bucket[]];

/**
 * How many buckets of width `bucket` cover [from, to), counted as public.event_histogram counts
 * them; undefined when a time does not parse.
 *
 * @example
 * bucketCount("1 hour", "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z"); // 24
 */
export function bucketCount(bucket: Bucket, from: string, to: string): number | undefined {
  const span = Date.parse(to) - Date.parse(from);
  if (!Number.isFinite(span)) return undefined;
  return Math.max(0, Math.ceil(span / BUCKET_MS[bucket]));
}
