/**
 * event-histogram end to end: buckets equal an exact grouping on the Timescale node within the
 * caller's grants, and their counts add up to the events the node holds in the range at the
 * sites seed user 5 may see (scripts/seed/scopes.ts).
 */
import assert from "node:assert/strict";
import { createBridgeClient } from "../../functions/_shared/client.ts";
import { demoSites } from "../../scripts/seed/scopes.ts";
import type { HistogramRequest, HistogramResponse } from "../../functions/_shared/schemas.ts";
import { histogramRows } from "../support/answers.ts";
import { connect, dbTest } from "../support/fixture.ts";
import { okBody, seedUserId, userClient } from "../support/functions.ts";
import * as oracle from "../support/oracle.ts";

const supabase = connect("supabase");
const timescale = connect("timescale");
const client = await userClient(5);

const histogram = (request: HistogramRequest) =>
  okBody<HistogramResponse>(client, "event-histogram", request);

dbTest(
  "event-histogram answers as an exact grouping on the node in the caller's scope",
  async () => {
    const request = {
      bucket: "1 hour" as const,
      from: "2026-10-20T00:00:00Z",
      to: "2026-10-22T00:00:00Z",
    };
    const answer = await histogram(request);
    const grants = await oracle.grantsOf(supabase, seedUserId(5));
    const { bucket, from, to } = request;
    const expected = await oracle.exactHistogram(timescale, bucket, from, to, grants);
    assert.ok(expected.length > 0);
    oracle.assertSameRows(histogramRows(answer), expected);
  },
);

dbTest("event-histogram counts add up to the node's events at the caller's sites", async () => {
  const request = {
    bucket: "6 hours" as const,
    from: "2026-10-03T00:00:00Z",
    to: "2026-10-30T12:00:00Z",
    eventTypes: ["purchase", "view"],
  };
  const answer = await histogram(request);
  const [{ events }] = await timescale`
    select count(*)::int as events from public.events
     where event_time >= ${request.from} and event_time < ${request.to}
       and event_type = any(${request.eventTypes})
       and location_key = any(${demoSites(5)}::text[])`;
  assert.ok(events > 0);
  assert.equal(answer.buckets.reduce((sum, b) => sum + b.events, 0), events);
  assert.ok(answer.buckets.every((b) => request.eventTypes.includes(b.eventType)));
  // Buckets are aligned to `from` and 6 hours apart.
  assert.ok(
    answer.buckets.every((b) =>
      (Date.parse(b.bucketStart) - Date.parse(request.from)) % (6 * 3600_000) === 0
    ),
  );
});

dbTest("the app client's eventHistogram answers as the function does", async () => {
  const request = {
    bucket: "1 day" as const,
    from: "2026-10-10T00:00:00Z",
    to: "2026-10-17T00:00:00Z",
  };
  assert.deepEqual(
    await createBridgeClient(client).eventHistogram(request),
    await histogram(request),
  );
});
