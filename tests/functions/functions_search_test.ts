/**
 * events-search end to end: supabase-js → the served function → public.search_events → the
 * Timescale node. Answers equal an exact scan on the node within the caller's grants.
 */
import assert from "node:assert/strict";
import { createBridgeClient } from "../../functions/_shared/client.ts";
import { demoSites } from "../../scripts/seed/scopes.ts";
import type { SearchRequest, SearchResponse } from "../../functions/_shared/schemas.ts";
import { searchRows } from "../support/answers.ts";
import { connect, dbTest, fixture, type SearchFilters } from "../support/fixture.ts";
import { okBody, seedUserId, userClient } from "../support/functions.ts";
import * as oracle from "../support/oracle.ts";

const supabase = connect("supabase");
const timescale = connect("timescale");
const client = await userClient(1);
const grants = await oracle.grantsOf(supabase, seedUserId(1));

// Events seed user 1 may see (the demo grants of scripts/seed/scopes.ts): each is its own
// nearest neighbour within the user's scope.
const stored: { embedding: string; event_time: Date }[] = await timescale`
  select event_embedding::text as embedding, event_time from public.events
   where event_embedding is not null and location_key = any(${demoSites(1)}::text[])
   order by event_time limit 3 offset 50`;
const [{ common_type }] = await timescale`
  select event_type as common_type from public.events group by 1 order by count(*) desc limit 1`;

type Filters = NonNullable<SearchRequest["filters"]>;

/** The exact top-k on the node within user 1's grants, the request's filters as the RPC's. */
const onNode = (embedding: string, k: number, f: Filters = {}) => {
  const filters: SearchFilters = {
    event_types: f.eventTypes,
    user_token: f.userToken,
    agent_key: f.agentKey,
    device_key: f.deviceKey,
    location_key: f.locationKey,
    time_from: f.from === undefined ? undefined : new Date(f.from),
    time_to: f.to === undefined ? undefined : new Date(f.to),
    max_distance: f.maxDistance,
  };
  return oracle.exactSearch(timescale, embedding, k, filters, grants);
};

const search = (request: SearchRequest) => okBody<SearchResponse>(client, "events-search", request);

dbTest(
  "events-search returns the k nearest events in the caller's scope, nearest first",
  async () => {
    for (const { embedding, event_time } of stored) {
      const answer = await search({ embedding: JSON.parse(embedding), k: 7 });
      assert.equal(answer.count, 7);
      assert.equal(answer.results.length, 7);
      const distances = answer.results.map((result) => result.distance);
      assert.deepEqual(distances, [...distances].sort((a, b) => a - b));
      // The stored event is its own nearest neighbour.
      assert.ok(distances[0] < 1e-6);
      assert.equal(Date.parse(answer.results[0].eventTime), event_time.getTime());
      oracle.assertSameRows(searchRows(answer), await onNode(embedding, 7));
    }
  },
);

dbTest("events-search applies every filter as an exact scan on the node does", async () => {
  const [{ embedding }] = stored;
  const until = fixture.until.getTime();
  const filterTable: Filters[] = [
    { eventTypes: [common_type] },
    { from: new Date(until - 5 * 86400_000).toISOString(), to: fixture.until.toISOString() },
    { eventTypes: [common_type], maxDistance: 0.99 },
    { eventTypes: ["purchase", common_type], from: "2026-10-10T00:00:00Z" },
  ];
  for (const filters of filterTable) {
    const answer = await search({ embedding: JSON.parse(embedding), k: 20, filters });
    const expected = await onNode(embedding, 20, filters);
    assert.ok(expected.length > 0, `the fixture should match ${JSON.stringify(filters)}`);
    oracle.assertSameRows(searchRows(answer), expected, JSON.stringify(filters));
  }
});

dbTest("events-search asks for 10 events when k is left out", async () => {
  const answer = await search({ embedding: JSON.parse(stored[1].embedding) });
  assert.equal(answer.count, 10);
});

dbTest("SQL-looking and unusual strings in filters are treated as data", async () => {
  const [{ embedding }] = stored;
  const [{ before }] = await supabase`select count(*)::int as before from public.missions`;
  const attempts: Filters[] = [
    { userToken: "x' or '1'='1" },
    { agentKey: "'; drop table public.missions; --" },
    { eventTypes: [`${common_type}' or 1=1 --`, "') union select * from bridge.events --"] },
    { locationKey: "$1) or true; --", deviceKey: "\\'; select pg_sleep(10); --" },
    { userToken: "👩‍🚀 \u202eevil\u200b", agentKey: "ａｇｅｎｔ－００１", eventTypes: ["ＶＩＥＷ"] },
  ];
  for (const filters of attempts) {
    const answer = await search({ embedding: JSON.parse(embedding), k: 5, filters });
    assert.deepEqual(answer, { results: [], count: 0 }, JSON.stringify(filters));
  }
  const [{ after }] = await supabase`select count(*)::int as after from public.missions`;
  assert.equal(after, before);
});

dbTest("the app client's searchEvents answers as the function does", async () => {
  const bridge = createBridgeClient(client);
  const request = { embedding: JSON.parse(stored[2].embedding), k: 3 };
  assert.deepEqual(await bridge.searchEvents(request), await search(request));
});
