/**
 * Event scopes end to end: events-search and event-histogram, called over HTTP by two signed-in
 * users with disjoint scopes, answer each within their own scope, equal to the same question
 * asked on the Timescale node with the scope written out. No grant, no events; a request body
 * naming another user's token finds nothing; answers and errors say nothing about rows outside
 * the scope. Grants are made for fresh test users and removed at the end.
 */
import assert from "node:assert/strict";
import type { HistogramResponse, SearchResponse } from "../../functions/_shared/schemas.ts";
import { connect, dbTest } from "../support/fixture.ts";
import { clientWith, errorOf, invoke, sessionFor } from "../support/functions_fixture.ts";
import {
  grantScope,
  histogramKey,
  nodeHistogram,
  nodeSearch,
  revokeScopes,
  type Scope,
  searchKey,
} from "../support/scope_fixture.ts";

const supabase = connect("supabase");
const reader = connect("reader");
const timescale = connect("timescale");

// The busiest tokens, dealt alternately: two disjoint scopes of similar weight.
const tokens = (await timescale`
  select user_token from public.events group by 1 order by count(*) desc, 1 limit 100`)
  .map((row) => row.user_token as string);
const scopes: Scope[] = [
  { user_token: tokens.filter((_, i) => i % 2 === 0) },
  { user_token: tokens.filter((_, i) => i % 2 === 1) },
];
const [first, second, nobody] = [crypto.randomUUID(), crypto.randomUUID(), crypto.randomUUID()];
await revokeScopes(supabase, [first, second, nobody]);
await grantScope(supabase, first, scopes[0]);
await grantScope(supabase, second, scopes[1]);

const clientOf = async (id: string) => clientWith(await sessionFor(id));
const clients = [await clientOf(first), await clientOf(second)];
const stranger = await clientOf(nobody);

const [{ embedding }] = await timescale`
  select event_embedding::text as embedding from public.events
   order by event_time limit 1 offset 2000`;
const range = { bucket: "1 day", from: "2026-10-15T00:00:00Z", to: "2026-11-01T00:00:00Z" };

/** The function's search results as the node's rows, to compare. */
const asRows = (answer: SearchResponse) =>
  answer.results.map((r) => ({
    event_time: new Date(r.eventTime),
    user_token: r.userToken,
    location_key: r.locationKey,
    distance: r.distance,
  }));

async function search(client: ReturnType<typeof clientWith>, filters = {}) {
  const answer = await invoke<SearchResponse>(client, "events-search", {
    body: { embedding: JSON.parse(embedding), k: 10, filters },
  });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

async function histogram(client: ReturnType<typeof clientWith>) {
  const answer = await invoke<HistogramResponse>(client, "event-histogram", { body: range });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  return answer.body;
}

dbTest(
  "events-search answers two users each within their own scope, as the node does",
  async () => {
    for (const [i, client] of clients.entries()) {
      const answer = await search(client);
      const expected = await nodeSearch(reader, embedding, 10, scopes[i]);
      assert.equal(expected.length, 10);
      assert.equal(answer.count, 10);
      assert.deepEqual(asRows(answer).map(searchKey), expected.map(searchKey));
    }
  },
);

dbTest(
  "event-histogram answers two users each within their own scope, as the node does",
  async () => {
    for (const [i, client] of clients.entries()) {
      const answer = await histogram(client);
      const expected = await nodeHistogram(
        reader,
        range.bucket,
        new Date(range.from),
        new Date(range.to),
        scopes[i],
      );
      assert.ok(expected.length > 0);
      assert.deepEqual(
        answer.buckets.map((b) =>
          histogramKey({
            bucket_start: new Date(b.bucketStart),
            event_type: b.eventType,
            events: b.events,
          })
        ),
        expected.map(histogramKey),
      );
    }
  },
);

dbTest("a signed-in user with no grant gets no events from either function", async () => {
  assert.deepEqual(await search(stranger), { results: [], count: 0 });
  assert.deepEqual(await histogram(stranger), { buckets: [] });
});

dbTest("naming another user's token answers as a token that exists nowhere", async () => {
  const theirs = await search(clients[0], { userToken: scopes[1].user_token![0] });
  const unknown = await search(clients[0], { userToken: "u_exists_nowhere" });
  assert.deepEqual(theirs, { results: [], count: 0 });
  assert.deepEqual(theirs, unknown);
});

dbTest("an error answer is the same for a user with a scope and one without", async () => {
  for (const body of [{ embedding: [1, 2, 3] }, { embedding: JSON.parse(embedding), k: 0 }]) {
    const scoped = await invoke(clients[0], "events-search", { body });
    const unscoped = await invoke(stranger, "events-search", { body });
    assert.equal(scoped.status, 400);
    assert.equal(unscoped.status, scoped.status);
    assert.deepEqual(errorOf(unscoped), errorOf(scoped));
  }
});

dbTest("the test users' grants are removed afterwards", async () => {
  await revokeScopes(supabase, [first, second, nobody]);
  const [{ n }] = await supabase`
    select count(*)::int as n from public.event_scopes
     where user_id = any(${[first, second, nobody]}::uuid[])`;
  assert.equal(n, 0);
});
