/**
 * Pushdown: each RPC parameter reaches the Timescale node inside the Remote SQL that
 * postgres_fdw sends, read from the plans of the real calls (auto_explain, nested statements).
 */
import assert from "node:assert/strict";
import { connect, dbTest, fixture, remoteWorkOf, seedUserId } from "../support/fixture.ts";

const timescale = connect("timescale");
const [{ embedding, event_type, user_token, agent_key, device_key, location_key }] =
  await timescale`
    select event_embedding::text as embedding, event_type, user_token, agent_key, device_key,
           location_key
      from public.events order by event_time limit 1`;
await timescale.end();

const searchCall = `select * from public.search_events(
  $1::extensions.vector, $2, $3::text[], $4, $5, $6, $7, $8::timestamptz, $9::timestamptz, $10)`;
const noFilters = [embedding, 5, null, null, null, null, null, null, null, null];
const windowEnd = fixture.until.toISOString();
const windowStart = new Date(fixture.until.getTime() - 3 * 86400_000).toISOString();

const searchCases: [string, number, unknown, RegExp][] = [
  ["event_types", 2, [event_type], /event_type = ANY \('\{[^}]+\}'::text\[\]\)/],
  ["user_token", 3, user_token, new RegExp(`user_token = '${user_token}'`)],
  ["agent_key", 4, agent_key, new RegExp(`agent_key = '${agent_key}'`)],
  ["device_key", 5, device_key, new RegExp(`device_key = '${device_key}'`)],
  ["location_key", 6, location_key, new RegExp(`location_key = '${location_key}'`)],
  ["time_from", 7, windowStart, /event_time >= '[^']+'/],
  ["time_to", 8, windowEnd, /event_time < '[^']+'/],
  ["max_distance", 9, 0.8, /OPERATOR\(extensions\.<=>\) '\[[^\]]+\]'\) <= 0\.8/],
];

dbTest("search pushes ORDER BY on <=> and LIMIT to the node", async () => {
  const { remoteSql, foreignScanRows } = await remoteWorkOf(searchCall, noFilters);
  assert.equal(remoteSql.length, 1, `one foreign scan expected, got ${remoteSql.length}`);
  assert.match(remoteSql[0], /ORDER BY \(event_embedding OPERATOR\(extensions\.<=>\) '\[/);
  assert.match(remoteSql[0], /LIMIT 5\b/);
  assert.ok(foreignScanRows[0] <= 5, `the foreign scan returned ${foreignScanRows[0]} rows`);
});

for (const [name, index, value, expected] of searchCases) {
  dbTest(`search pushes ${name} to the node`, async () => {
    const params = [...noFilters];
    params[index] = value;
    const { remoteSql, foreignScanRows } = await remoteWorkOf(searchCall, params);
    assert.equal(remoteSql.length, 1);
    assert.match(remoteSql[0], expected);
    assert.match(remoteSql[0], /ORDER BY \(event_embedding OPERATOR\(extensions\.<=>\)/);
    assert.ok(foreignScanRows[0] <= 5, `the foreign scan returned ${foreignScanRows[0]} rows`);
  });
}

const activityCall = `select * from public.mission_activity(
  $1::bigint[], $2::timestamptz, $3::timestamptz, $4::text[], $5, $6::timestamptz, $7)`;
const someMissions = [
  fixture.firstMissionId,
  fixture.firstMissionId + 1,
  fixture.firstMissionId + 2,
];

const activityCases: [string, number, unknown, RegExp][] = [
  ["mission_ids", 0, someMissions, /a\.mission_id = any \('\{10001,10002,10003\}'::bigint\[\]\)/],
  ["time_from", 1, windowStart, /a\.event_time >= '[^']+'::timestamptz/],
  ["time_to", 2, windowEnd, /a\.event_time < '[^']+'::timestamptz/],
  ["actions", 3, ["scan", "pickup"], /a\.action = any \('\{scan,pickup\}'::text\[\]\)/],
  ["max_rows", 4, 7, /\blimit 7\) r$/],
  ["before", 5, windowStart, /a\.event_time < '[^']+'::timestamptz/],
];

// Newest first for a few missions: date_bin by 1 µs is event_time itself, in an order the node's
// event_time index cannot give, so the node reads the missions' own index ranges.
const byMissionRanges =
  /order by date_bin\('1 microsecond', a\.event_time, '2000-01-01 00:00\+00'\) desc, a\.mission_id, a\.agent_id, a\.action, a\.details\n/;

for (const [name, index, value, expected] of activityCases) {
  dbTest(`mission_activity pushes ${name} to the node`, async () => {
    const params: unknown[] = [someMissions, null, null, null, 50, null, null];
    params[index] = value;
    const { remoteSql } = await remoteWorkOf(activityCall, params);
    assert.equal(remoteSql.length, 1);
    assert.match(remoteSql[0], expected);
    assert.match(remoteSql[0], /a\.mission_id = any \(/);
    assert.match(remoteSql[0], byMissionRanges);
  });
}

dbTest("mission_activity sends 50 missions in the mission-ranges order", async () => {
  const fifty = Array.from({ length: 50 }, (_, i) => fixture.firstMissionId + i);
  const { remoteSql } = await remoteWorkOf(activityCall, [fifty, null, null, null, 7, null, null]);
  assert.equal(remoteSql.length, 1);
  assert.match(remoteSql[0], /a\.mission_id = any \('\{10001,10002,[0-9,]+,10050\}'::bigint\[\]\)/);
  assert.match(remoteSql[0], byMissionRanges);
  assert.match(remoteSql[0], /\blimit 7\) r$/);
});

dbTest(
  "mission_activity sends 51 missions newest first by event_time, for the node to walk",
  async () => {
    const many = Array.from({ length: 51 }, (_, i) => fixture.firstMissionId + i);
    const { remoteSql } = await remoteWorkOf(activityCall, [many, null, null, null, 7, null, null]);
    assert.equal(remoteSql.length, 1);
    assert.match(
      remoteSql[0],
      /a\.mission_id = any \('\{10001,10002,[0-9,]+,10051\}'::bigint\[\]\)/,
    );
    assert.match(
      remoteSql[0],
      /order by a\.event_time desc, a\.mission_id, a\.agent_id, a\.action, a\.details\n\s+limit 7\) r$/,
    );
  },
);

dbTest(
  "mission_activity sends a cursor to the node as its time, the tie order and OFFSET",
  async () => {
    const { remoteSql } = await remoteWorkOf(activityCall, [
      someMissions,
      null,
      null,
      null,
      7,
      windowEnd,
      3,
    ]);
    assert.equal(remoteSql.length, 1);
    assert.match(remoteSql[0], /a\.event_time <= '[^']+'::timestamptz/);
    assert.match(remoteSql[0], /a\.mission_id = any \('\{10001,10002,10003\}'::bigint\[\]\)/);
    assert.match(remoteSql[0], byMissionRanges);
    assert.match(remoteSql[0], /\blimit 7 offset 3\) r$/);
  },
);

const histogramCall = `select * from public.event_histogram(
  $1::interval, $2::timestamptz, $3::timestamptz, $4::text[])`;

dbTest("event_histogram groups on the node", async () => {
  const { remoteSql } = await remoteWorkOf(histogramCall, ["1 day", windowStart, windowEnd, null]);
  assert.equal(remoteSql.length, 1);
  assert.match(remoteSql[0], /SELECT date_bin\('1 day'::interval, event_time, '[^']+'/);
  assert.match(remoteSql[0], /count\(\*\)/);
  assert.match(remoteSql[0], /GROUP BY 1, 2/);
  assert.match(remoteSql[0], /event_time >= '[^']+'.*event_time < '[^']+'/);
});

dbTest("event_histogram pushes event_types to the node", async () => {
  const { remoteSql } = await remoteWorkOf(histogramCall, [
    "6 hours",
    windowStart,
    windowEnd,
    [event_type],
  ]);
  assert.match(remoteSql[0], /event_type = ANY \('\{[^}]+\}'::text\[\]\)/);
  assert.match(remoteSql[0], /GROUP BY 1, 2/);
});

const scopePattern =
  /\(\$\d+::boolean OR \(user_token = ANY \(\$\d+::text\[\]\)\) OR \(agent_key = ANY \(\$\d+::text\[\]\)\) OR \(location_key = ANY \(\$\d+::text\[\]\)\)\)/;
// Seed user 1 holds the demo grants scripts/seed/scopes.ts makes: five sites.
const scopedCaller = { role: "authenticated" as const, sub: seedUserId(1) };

dbTest("search sends the caller's scope to the node with ORDER BY and LIMIT", async () => {
  const { remoteSql, foreignScanRows } = await remoteWorkOf(searchCall, noFilters, scopedCaller);
  assert.equal(remoteSql.length, 1, `one foreign scan expected, got ${remoteSql.length}`);
  assert.match(remoteSql[0], scopePattern);
  assert.match(remoteSql[0], /ORDER BY \(event_embedding OPERATOR\(extensions\.<=>\) '\[/);
  assert.match(remoteSql[0], /LIMIT 5\b/);
  assert.equal(foreignScanRows[0], 5, "the node returned exactly k rows, all in scope");
});

dbTest("search with a 10,000-token scope sends it as one array parameter", async () => {
  const sql = connect("supabase");
  const id = crypto.randomUUID();
  try {
    await sql`
      insert into public.event_scopes (user_id, kind, key)
      select ${id}::uuid, 'user_token', 'u_scope_' || n from generate_series(1, 10000) n`;
    const caller = { role: "authenticated" as const, sub: id };
    const { remoteSql, foreignScanRows } = await remoteWorkOf(searchCall, noFilters, caller);
    assert.equal(remoteSql.length, 1);
    assert.match(remoteSql[0], scopePattern);
    assert.match(remoteSql[0], /LIMIT 5\b/);
    assert.equal(foreignScanRows[0], 0, "no seeded event has these tokens");
  } finally {
    await sql`delete from public.event_scopes where user_id = ${id}::uuid`;
    await sql.end();
  }
});

dbTest("event_histogram sends the caller's scope to the node with GROUP BY", async () => {
  const { remoteSql } = await remoteWorkOf(
    histogramCall,
    ["1 day", windowStart, windowEnd, null],
    scopedCaller,
  );
  assert.equal(remoteSql.length, 1);
  assert.match(remoteSql[0], scopePattern);
  assert.match(remoteSql[0], /GROUP BY 1, 2/);
});
