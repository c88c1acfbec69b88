/**
 * Event scopes end to end: events-search and event-histogram, called over HTTP by two signed-in
 * users with disjoint scopes, answer each within their own scope, equal to an exact scan on the
 * Timescale node within the grants the test reads from public.event_scopes. No grant, no events;
 * a request body naming another user's token finds nothing; answers and errors say nothing about
 * rows outside the scope. Each test grants fresh test users and removes the grants when it ends.
 */
import assert from "node:assert/strict";
import type { HistogramResponse, SearchResponse } from "../../functions/_shared/schemas.ts";
import { histogramRows, searchRows } from "../support/answers.ts";
import { connect, dbTest } from "../support/fixture.ts";
import { clientWith, errorOf, invoke, okBody, sessionFor } from "../support/functions.ts";
import * as oracle from "../support/oracle.ts";
import { type Scope, withScopedUsers } from "../support/scopes.ts";

const supabase = connect("supabase");
const timescale = connect("timescale");

// The busiest tokens, dealt alternately: two disjoint scopes of similar weight.
const tokens = (await timescale`
  select user_token from public.events group by 1 order by count(*) desc, 1 limit 100`)
  .map((row) => row.user_token as string);
const scopes: Scope[] = [
  { user_token: tokens.filter((_, i) => i % 2 === 0) },
  { user_token: tokens.filter((_, i) => i % 2 === 1) },
];

type Client = ReturnType<typeof clientWith>;

/**
 * Runs `fn` with the two scoped users and a user granted nothing, each as a client of the
 * served functions signed in as them.
 */
const withClients = (fn: (clients: Client[], ids: string[]) => Promise<void>) =>
  withScopedUsers(supabase, [...scopes, {}], async (ids) => {
    const clients = await Promise.all(ids.map(async (id) => clientWith(await sessionFor(id))));
    await fn(clients, ids);
  });

const [{ embedding }] = await timescale`
  select event_embedding::text as embedding from public.events
   order by event_time limit 1 offset 2000`;
const range = { bucket: "1 day", from: "2026-10-15T00:00:00Z", to: "2026-11-01T00:00:00Z" };

const search = (client: Client, filters = {}) =>
  okBody<SearchResponse>(client, "events-search", {
    embedding: JSON.parse(embedding),
    k: 10,
    filters,
  });
const histogram = (client: Client) => okBody<HistogramResponse>(client, "event-histogram", range);

/** Runs `check` for each of the two scoped users: their client and their grants. */
const forEachScopedUser = (check: (client: Client, grants: oracle.Grant[]) => Promise<void>) =>
  withClients(async (clients, ids) => {
    for (const [i, client] of clients.slice(0, 2).entries()) {
      await check(client, await oracle.grantsOf(supabase, ids[i]));
    }
  });

dbTest(
  "events-search answers two users each within their own scope, as the node does",
  () =>
    forEachScopedUser(async (client, grants) => {
      const answer = await search(client);
      const expected = await oracle.exactSearch(timescale, embedding, 10, {}, grants);
      assert.equal(expected.length, 10);
      assert.equal(answer.count, 10);
      oracle.assertSameRows(searchRows(answer), expected);
    }),
);

dbTest(
  "event-histogram answers two users each within their own scope, as the node does",
  () =>
    forEachScopedUser(async (client, grants) => {
      const { bucket, from, to } = range;
      const expected = await oracle.exactHistogram(timescale, bucket, from, to, grants);
      assert.ok(expected.length > 0);
      oracle.assertSameRows(histogramRows(await histogram(client)), expected);
    }),
);

dbTest(
  "a signed-in user with no grant gets no events from either function",
  () =>
    withClients(async ([, , stranger]) => {
      assert.deepEqual(await search(stranger), { results: [], count: 0 });
      assert.deepEqual(await histogram(stranger), { buckets: [] });
    }),
);

dbTest(
  "naming another user's token answers as a token that exists nowhere",
  () =>
    withClients(async ([first]) => {
      const theirs = await search(first, { userToken: scopes[1].user_token![0] });
      const unknown = await search(first, { userToken: "u_exists_nowhere" });
      assert.deepEqual(theirs, { results: [], count: 0 });
      assert.deepEqual(theirs, unknown);
    }),
);

dbTest(
  "an error answer is the same for a user with a scope and one without",
  () =>
    withClients(async ([first, , stranger]) => {
      for (const body of [{ embedding: [1, 2, 3] }, { embedding: JSON.parse(embedding), k: 0 }]) {
        const scoped = await invoke(first, "events-search", { body });
        const unscoped = await invoke(stranger, "events-search", { body });
        assert.equal(scoped.status, 400);
        assert.equal(unscoped.status, scoped.status);
        assert.deepEqual(errorOf(unscoped), errorOf(scoped));
      }
    }),
);
