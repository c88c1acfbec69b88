/**
 * Bad input gets a clear 4xx and touches no database: a table of bad requests, each with its
 * documented status, code and message, sent through supabase-js to the served functions, with
 * pg_stat_statements showing that no statement reached the Supabase node meanwhile.
 */
import assert from "node:assert/strict";
import { z } from "zod";
import type { FunctionInvokeOptions } from "@supabase/supabase-js";
import { embedding, errorOf, invoke, serviceClient } from "../support/functions.ts";
import { supabaseStatementCount } from "../support/statements.ts";

const vector = embedding(1);
const withAt = (index: number, value: unknown) => vector.map((v, i) => i === index ? value : v);
const histogram = { bucket: "1 hour", from: "2026-10-01T00:00:00Z", to: "2026-10-02T00:00:00Z" };

/** A function and how supabase-js invokes it. */
type Call = [name: string, options: FunctionInvokeOptions];
const search = (body: unknown): Call => ["events-search", { body: body as object }];
const activity = (body: unknown): Call => ["mission-activity", { body: body as object }];
const buckets = (body: unknown): Call => ["event-histogram", { body: body as object }];
const rawSearch = (text: string, type = "application/json"): Call => [
  "events-search",
  { body: text, headers: { "Content-Type": type } },
];

const codes: Record<number, string> = {
  400: "invalid_input",
  404: "not_found",
  405: "method_not_allowed",
  413: "payload_too_large",
  415: "unsupported_media_type",
};

/** What is wrong, the call, and the status and message it must get. */
const badRequests: [string, Call, number, RegExp][] = [
  [
    "an embedding of 767 numbers",
    search({ embedding: vector.slice(1) }),
    400,
    /^embedding: must have 768 numbers, got 767$/,
  ],
  [
    "an embedding of 769 numbers",
    search({ embedding: [...vector, 0.5] }),
    400,
    /^embedding: must have 768 numbers, got 769$/,
  ],
  [
    "a string in the embedding",
    search({ embedding: withAt(5, "0.5") }),
    400,
    /^embedding\[5\]: must be a number, got string$/,
  ],
  [
    "a null in the embedding",
    search({ embedding: withAt(0, null) }),
    400,
    /^embedding\[0\]: must be a number, got null$/,
  ],
  [
    "an all-zero embedding",
    search({ embedding: vector.map(() => 0) }),
    400,
    /^embedding: must not be all zeros/,
  ],
  [
    "no embedding",
    search({ k: 5 }),
    400,
    /^embedding: must be an array of numbers, got undefined$/,
  ],
  ["k of 0", search({ embedding: vector, k: 0 }), 400, /^k: must be from 1 to 100$/],
  ["k of 101", search({ embedding: vector, k: 101 }), 400, /^k: must be from 1 to 100$/],
  [
    "a fractional k",
    search({ embedding: vector, k: 2.5 }),
    400,
    /^k: must be a whole number from 1 to 100$/,
  ],
  [
    "a time that is not ISO 8601",
    search({ embedding: vector, filters: { from: "yesterday" } }),
    400,
    /^filters\.from: must be an ISO 8601 date-time with a time zone/,
  ],
  [
    "a time without a time zone",
    search({ embedding: vector, filters: { to: "2026-10-01T00:00:00" } }),
    400,
    /^filters\.to: must be an ISO 8601/,
  ],
  [
    "an impossible date",
    search({ embedding: vector, filters: { from: "2026-02-30T00:00:00Z" } }),
    400,
    /^filters\.from: must be an ISO 8601/,
  ],
  [
    "from after to in a search",
    search({
      embedding: vector,
      filters: { from: "2026-10-02T00:00:00Z", to: "2026-10-01T00:00:00Z" },
    }),
    400,
    /^filters\.to: must not be before from \(2026-10-02T00:00:00Z\)$/,
  ],
  [
    "from after to in activity",
    activity({
      missionIds: [10001],
      from: "2026-10-02T00:00:00Z",
      to: "2026-10-01T00:00:00+02:00",
    }),
    400,
    /^to: must not be before from/,
  ],
  [
    "a cursor that is no nextCursor",
    activity({ missionIds: [10001], before: "2026-10-01T00:00:00Z#first" }),
    400,
    /^before: must be the nextCursor of the previous page/,
  ],
  [
    "a cursor with an impossible date",
    activity({ missionIds: [10001], before: "2026-02-30T00:00:00Z#3" }),
    400,
    /^before: must be the nextCursor of the previous page/,
  ],
  [
    "an unknown field",
    search({ embedding: vector, limit: 5 }),
    400,
    /^body: unknown field "limit": expected only embedding, k, filters$/,
  ],
  [
    "an unknown filter",
    search({ embedding: vector, filters: { eventType: "view" } }),
    400,
    /^filters: unknown field "eventType": expected only eventTypes, /,
  ],
  [
    "a maxDistance above 2",
    search({ embedding: vector, filters: { maxDistance: 3 } }),
    400,
    /^filters\.maxDistance: must be from 0 to 2/,
  ],
  [
    "an empty eventTypes",
    search({ embedding: vector, filters: { eventTypes: [] } }),
    400,
    /^filters\.eventTypes: must name at least one event type/,
  ],
  [
    "a NUL character in a filter",
    search({ embedding: vector, filters: { userToken: "u_\u0000" } }),
    400,
    /^filters\.userToken: must be well-formed Unicode text without NUL characters$/,
  ],
  [
    "a lone surrogate in a filter",
    rawSearch(`{"embedding":${JSON.stringify(vector)},"filters":{"agentKey":"a\\ud800"}}`),
    400,
    /^filters\.agentKey: must be well-formed Unicode/,
  ],
  ["a body that is an array", search([vector]), 400, /^body: must be a JSON object, got an array$/],
  ["invalid JSON", rawSearch(`{"embedding": [0.1, 0.2`), 400, /^the body is not valid JSON/],
  [
    "a text/plain body",
    rawSearch(JSON.stringify({ embedding: vector }), "text/plain"),
    415,
    /^send the body as JSON with Content-Type: application\/json \(got text\/plain\)$/,
  ],
  [
    "a body over 1 MiB",
    search({ embedding: vector, padding: "x".repeat(1100 * 1024) }),
    413,
    /1 MiB/,
  ],
  [
    "1001 mission ids",
    activity({ missionIds: Array.from({ length: 1001 }, (_, i) => 10001 + i) }),
    400,
    /^missionIds: must hold at most 1000 mission ids, got 1001$/,
  ],
  [
    "no mission ids",
    activity({ missionIds: [] }),
    400,
    /^missionIds: must hold at least one mission id$/,
  ],
  [
    "a mission id that is a string",
    activity({ missionIds: ["10001"] }),
    400,
    /^missionIds\[0\]: must be a whole number/,
  ],
  [
    "a page of 1001 rows",
    activity({ missionIds: [10001], limit: 1001 }),
    400,
    /^limit: must be from 1 to 1000$/,
  ],
  [
    "a histogram of 2.6 million buckets",
    buckets({ bucket: "10 seconds", from: "2026-01-01T00:00:00Z", to: "2026-11-01T00:00:00Z" }),
    400,
    /^bucket: "10 seconds" from 2026-01-01T00:00:00Z to 2026-11-01T00:00:00Z would make 2,626,560 buckets; at most 10,000 are allowed/,
  ],
  [
    "a bucket in months",
    buckets({ ...histogram, bucket: "1 month" }),
    400,
    /^bucket: must be one of "10 seconds", "30 seconds", "1 minute", .*, "1 day", "7 days"$/,
  ],
  [
    "a bucket no chart uses",
    buckets({ ...histogram, bucket: "7 hours" }),
    400,
    /^bucket: must be one of "10 seconds", /,
  ],
  [
    "a histogram without its end",
    buckets({ bucket: "1 hour", from: histogram.from }),
    400,
    /^to: must be an ISO 8601/,
  ],
  ["GET on a POST function", ["events-search", { method: "GET" }], 405, /^use POST, not GET$/],
  ["an unknown function", ["events-searches", {}], 404, /no function named "events-searches"/],
  ["a sub-route of a function", ["events-search/extra", {}], 404, /^unknown route/],
];

const problems = z.array(z.object({ path: z.string(), message: z.string() })).min(1);

Deno.test({
  name: `${badRequests.length} bad requests get their 4xx and no statement reaches Postgres`,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    const client = serviceClient();
    const before = await supabaseStatementCount();
    for (const [what, [fn, options], status, message] of badRequests) {
      await t.step(`${what}: ${status}`, async () => {
        const answer = await invoke(client, fn, options);
        assert.equal(answer.status, status, JSON.stringify(answer.body));
        const error = errorOf(answer);
        assert.equal(error.code, codes[status]);
        assert.match(error.message, message);
        if (status === 400 && !error.message.startsWith("the body")) {
          const [first] = problems.parse(error.details);
          assert.equal(
            `${first.path}: ${first.message}`,
            error.message.replace(/ \(and \d+ more\)$/, ""),
          );
        }
        assert.equal(answer.headers.get("access-control-allow-origin"), "*");
        assert.doesNotMatch(JSON.stringify(answer.body), /postgres(ql)?:\/\/|\bselect\b|\.ts:\d+/i);
      });
    }
    assert.equal(await supabaseStatementCount(), before, "a bad request reached the database");

    // The counter does see a good request.
    const good = await invoke(client, ...search({ embedding: vector, k: 1 }));
    assert.equal(good.status, 200);
    assert.ok(await supabaseStatementCount() > before);
  },
});
