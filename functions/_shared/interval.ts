/**
 * Histogram bucket widths: the subset of PostgreSQL's interval syntax that has a fixed length,
 * so the number of buckets a request makes is known before anything reaches the database.
 */

/** The most buckets one histogram may have (public.event_histogram enforces the same bound). */
export const MAX_BUCKETS = 10_000;

const SECOND = 1000;
const unitMs: Record<string, number> = {
  ms: 1,
  msec: 1,
  msecs: 1,
  millisecond: 1,
  milliseconds: 1,
  s: SECOND,
  sec: SECOND,
  secs: SECOND,
  second: SECOND,
  seconds: SECOND,
  m: 60 * SECOND,
  min: 60 * SECOND,
  mins: 60 * SECOND,
  minute: 60 * SECOND,
  minutes: 60 * SECOND,
  h: 3600 * SECOND,
  hr: 3600 * SECOND,
  hrs: 3600 * SECOND,
  hour: 3600 * SECOND,
  hours: 3600 * SECOND,
  d: 86400 * SECOND,
  day: 86400 * SECOND,
  days: 86400 * SECOND,
  w: 7 * 86400 * SECOND,
  week: 7 * 86400 * SECOND,
  weeks: 7 * 86400 * SECOND,
};

// One or more "<number> <unit>" parts separated by spaces: "5 minutes", "1 hour 30 minutes",
// "90s". Every form is one PostgreSQL reads as the same interval.
const part = /(\d+(?:\.\d+)?) ?([a-z]+)/y;

/**
 * The length of an interval in milliseconds, or undefined when the text is not a positive
 * fixed-length interval this module understands.
 *
 * @example
 * intervalMs("5 minutes"); // 300000
 * intervalMs("1 month"); // undefined: months have no fixed length
 */
export function intervalMs(text: string): number | undefined {
  const parts = text.trim().toLowerCase().split(/\s+(?=\d)/);
  let total = 0;
  for (const piece of parts) {
    part.lastIndex = 0;
    const match = part.exec(piece);
    if (!match || part.lastIndex !== piece.length || !(match[2] in unitMs)) return undefined;
    total += Number(match[1]) * unitMs[match[2]];
  }
  return total > 0 && Number.isFinite(total) ? total : undefined;
}

/**
 * How many buckets of width `bucket` cover [from, to), counted as public.event_histogram counts
 * them; undefined when an argument does not parse.
 *
 * @example
 * bucketCount("1 hour", "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z"); // 24
 */
export function bucketCount(bucket: string, from: string, to: string): number | undefined {
  const width = intervalMs(bucket);
  const span = Date.parse(to) - Date.parse(from);
  if (width === undefined || !Number.isFinite(span)) return undefined;
  return Math.max(0, Math.ceil(span / width));
}
