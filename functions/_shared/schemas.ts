/**
 * Request and response schemas of every bridge function: the single source of truth for the
 * wire format (camelCase JSON), its TypeScript types and its error messages. The functions
 * validate requests with them, the client (client.ts) validates both directions, tests reuse
 * them. Requests are strict: a field the schema does not name is an error, not ignored.
 *
 * No Deno APIs here: apps import this module through client.ts.
 */
import { z } from "zod";
import type { Json } from "./database.types.ts";
import { bucketCount, BUCKETS } from "./interval.ts";
import { parseCursor } from "./page.ts";

/**
 * The limits of a request, each written once here. The RPCs' argument checks enforce the same
 * ones for callers that reach them directly, but for the key limits, which protect only the
 * functions; tests/rpc/limits_test.ts reads each from the database and fails if the two differ.
 */
export const LIMITS = {
  /** Width of the events' embeddings (bridge.events.event_embedding is vector(768)). */
  embeddingDimensions: 768,
  /** Most events one search returns (match_count). */
  matchCount: 100,
  /** Most missions one activity request names. */
  missionIds: 1000,
  /** Most rows one activity page holds (max_rows). */
  activityRows: 1000,
  /** Most buckets one histogram has. */
  buckets: 10_000,
  /** Largest cosine distance a search may be limited to (maxDistance); cosine distance is 0 to 2. */
  maxDistance: 2,
  /** Most characters of one key, type or action a request names. */
  keyLength: 200,
  /** Most event types or actions one filter lists. */
  keysPerFilter: 100,
} as const;

// pgvector stores float4: a larger magnitude would fail in the database instead of here.
const FLOAT4_MAX = 3.4028234663852886e38;

// A jsonb value: it arrived as JSON, so there is nothing to check, only a type to give.
const jsonb = z.custom<Json>();

/** A strict object whose unknown-field error lists the fields it does accept. */
function strictObject<Shape extends z.ZodRawShape>(shape: Shape) {
  const allowed = Object.keys(shape).join(", ");
  return z.strictObject(shape, {
    error: (issue) =>
      issue.code === "unrecognized_keys"
        ? `unknown field${issue.keys.length > 1 ? "s" : ""} ${
          issue.keys.map((key) => JSON.stringify(key)).join(", ")
        }: expected only ${allowed}`
        : issue.code === "invalid_type"
        ? `must be a JSON object, got ${describe(issue.input)}`
        : undefined,
  });
}

function describe(value: unknown): string {
  return value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
}

// Postgres text cannot hold NUL, and a lone UTF-16 surrogate would be silently replaced on the
// way to the database, so both are rejected here rather than matched against something else.
const key = z.string({ error: (issue) => `must be a string, got ${describe(issue.input)}` })
  .min(1, { error: "must not be empty" })
  .max(LIMITS.keyLength, { error: `must be at most ${LIMITS.keyLength} characters` })
  .refine((value) => value.isWellFormed() && !value.includes("\0"), {
    error: "must be well-formed Unicode text without NUL characters",
  });

const keys = (what: string) =>
  z.array(key, { error: (issue) => `must be an array of ${what}, got ${describe(issue.input)}` })
    .min(1, { error: `must name at least one ${what.replace(/s$/, "")}, or be left out for all` })
    .max(LIMITS.keysPerFilter, { error: `must name at most ${LIMITS.keysPerFilter} ${what}` });

const timestamp = z.iso.datetime({
  offset: true,
  error: "must be an ISO 8601 date-time with a time zone, such as 2026-10-01T00:00:00Z",
}).refine((value) => Number(value.slice(0, 4)) >= 1, { error: "must be in year 1 or later" });

const wholeNumber = (min: number, max: number) =>
  z.int({ error: `must be a whole number from ${min} to ${max}` })
    .min(min, { error: `must be from ${min} to ${max}` })
    .max(max, { error: `must be from ${min} to ${max}` });

/** A page's `nextCursor` (page.ts), or an ISO 8601 date-time before which rows are wanted. */
const cursor = z.string({ error: "must be a nextCursor string or an ISO 8601 date-time" })
  .refine((text) => {
    const parsed = parseCursor(text);
    return parsed !== undefined && timestamp.safeParse(parsed.time).success;
  }, {
    error: "must be the nextCursor of the previous page (such as 2026-10-01T12:00:00.123456Z#3) " +
      "or an ISO 8601 date-time with a time zone",
  });

/** Adds an issue on `to` when both ends of a range are given and `from` is after `to`. */
function fromNotAfterTo(range: { from?: string; to?: string }, context: z.RefinementCtx) {
  if (range.from && range.to && Date.parse(range.from) > Date.parse(range.to)) {
    context.addIssue({
      code: "custom",
      path: ["to"],
      message: `must not be before from (${range.from})`,
    });
  }
}

const embedding = z.array(
  z.number({ error: (issue) => `must be a number, got ${describe(issue.input)}` })
    .min(-FLOAT4_MAX, { error: "is too large for a 32-bit float" })
    .max(FLOAT4_MAX, { error: "is too large for a 32-bit float" }),
  { error: (issue) => `must be an array of numbers, got ${describe(issue.input)}` },
).length(LIMITS.embeddingDimensions, {
  error: (issue) =>
    `must have ${LIMITS.embeddingDimensions} numbers, got ${(issue.input as unknown[]).length}`,
}).refine((values) => values.some((value) => value !== 0), {
  error: "must not be all zeros: cosine distance to a zero vector is undefined",
});

const distanceRange = `from 0 to ${LIMITS.maxDistance} (cosine distance)`;

/** POST events-search: the `k` events nearest to `embedding`, optionally filtered. */
export const searchRequest = strictObject({
  embedding,
  k: wholeNumber(1, LIMITS.matchCount).default(10),
  filters: strictObject({
    eventTypes: keys("event types").optional(),
    userToken: key.optional(),
    agentKey: key.optional(),
    deviceKey: key.optional(),
    locationKey: key.optional(),
    from: timestamp.optional(),
    to: timestamp.optional(),
    maxDistance: z.number({ error: `must be a number ${distanceRange}` })
      .min(0, { error: `must be ${distanceRange}` })
      .max(LIMITS.maxDistance, { error: `must be ${distanceRange}` })
      .optional(),
  }).superRefine(fromNotAfterTo).optional(),
});

/** One event found by events-search; `distance` is the cosine distance to the query. */
export const searchResult = z.object({
  eventTime: z.iso.datetime({ offset: true }),
  userToken: z.string(),
  agentKey: z.string(),
  deviceKey: z.string(),
  locationKey: z.string(),
  eventType: z.string(),
  payload: jsonb,
  distance: z.number(),
});

/** events-search's answer: results nearest first. */
export const searchResponse = z.object({
  results: z.array(searchResult),
  count: z.int(),
});

/** POST mission-activity: activity of the given missions the caller may see, newest first. */
export const activityRequest = strictObject({
  missionIds: z.array(wholeNumber(1, Number.MAX_SAFE_INTEGER), {
    error: (issue) => `must be an array of mission ids, got ${describe(issue.input)}`,
  }).min(1, { error: "must hold at least one mission id" })
    .max(LIMITS.missionIds, {
      error: (issue) =>
        `must hold at most ${LIMITS.missionIds} mission ids, got ${
          (issue.input as unknown[]).length
        }`,
    }),
  from: timestamp.optional(),
  to: timestamp.optional(),
  actions: keys("actions").optional(),
  limit: wholeNumber(1, LIMITS.activityRows).default(100),
  before: cursor.optional(),
}).superRefine(fromNotAfterTo);

/** One activity row, with its mission's outcome. */
export const activityRow = z.object({
  missionId: z.int(),
  outcome: z.string().nullable(),
  eventTime: z.iso.datetime({ offset: true }),
  agentId: z.int(),
  action: z.string(),
  details: jsonb,
});

/**
 * mission-activity's answer. `nextCursor` is the `before` that fetches the next page, or null
 * when this page is the last.
 */
export const activityResponse = z.object({
  rows: z.array(activityRow),
  nextCursor: cursor.nullable(),
});

/** POST event-histogram: event counts per bucket and type over [from, to). */
export const histogramRequest = strictObject({
  bucket: z.enum(BUCKETS, {
    error: `must be one of ${BUCKETS.map((bucket) => JSON.stringify(bucket)).join(", ")}`,
  }),
  from: timestamp,
  to: timestamp,
  eventTypes: keys("event types").optional(),
}).superRefine((request, context) => {
  fromNotAfterTo(request, context);
  const count = bucketCount(request.bucket, request.from, request.to);
  if (count !== undefined && count > LIMITS.buckets) {
    context.addIssue({
      code: "custom",
      path: ["bucket"],
      message: `"${request.bucket}" from ${request.from} to ${request.to} would make ` +
        `${count.toLocaleString("en")} buckets; at most ${LIMITS.buckets.toLocaleString("en")} ` +
        "are allowed: use a wider bucket or a shorter range",
    });
  }
});

/** One bucket of event-histogram: events of one type from `bucketStart` for one bucket. */
export const histogramBucket = z.object({
  bucketStart: z.iso.datetime({ offset: true }),
  eventType: z.string(),
  events: z.int(),
});

/** event-histogram's answer: buckets in time order, then by event type. */
export const histogramResponse = z.object({ buckets: z.array(histogramBucket) });

/** GET bridge-health's answer: the link's state as an operator needs it. */
export const healthResponse = z.object({
  /** True when the node answers and search is pushed down to it. */
  ok: z.boolean(),
  timescale: z.object({
    reachable: z.boolean(),
    roundTripMs: z.number().nullable(),
    problem: z.string().nullable(),
  }),
  search: z.object({
    pushedDown: z.boolean(),
    remoteSql: z.string().nullable(),
  }),
});

export type SearchRequest = z.input<typeof searchRequest>;
export type SearchResponse = z.infer<typeof searchResponse>;
export type ActivityRequest = z.input<typeof activityRequest>;
export type ActivityResponse = z.infer<typeof activityResponse>;
export type HistogramRequest = z.input<typeof histogramRequest>;
export type HistogramResponse = z.infer<typeof histogramResponse>;
export type HealthResponse = z.infer<typeof healthResponse>;
