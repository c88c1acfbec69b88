/**
 * mission-activity end to end: a user gets the activity of their own missions only (RLS on
 * public.missions decides, not the function), the service role gets every mission's, and
 * nextCursor pages through the rows (rows sharing a timestamp: activity_ties_test.ts).
 */
import assert from "node:assert/strict";
import type { SupabaseClient } from "@supabase/supabase-js";
import { createBridgeClient } from "../../functions/_shared/client.ts";
import type { ActivityRequest, ActivityResponse } from "../../functions/_shared/schemas.ts";
import { activityRows } from "../support/answers.ts";
import { connect, dbTest, fixture } from "../support/fixture.ts";
import { okBody, seedUserId, serviceClient, userClient } from "../support/functions.ts";
import * as oracle from "../support/oracle.ts";

const supabase = connect("supabase");
const timescale = connect("timescale");
// The first 200 missions: owned by all 20 seed users.
const missionIds = Array.from({ length: 200 }, (_, i) => fixture.firstMissionId + i);
const missions = await supabase`
  select id::int, owner::text, outcome from public.missions where id = any(${missionIds})`;
const owners = new Map<number, string>(missions.map((row) => [row.id, row.owner]));
const outcomes = new Map<number, string | null>(missions.map((row) => [row.id, row.outcome]));
const ownedBy = (i: number) => missionIds.filter((id) => owners.get(id) === seedUserId(i));

const activity = (client: SupabaseClient, request: ActivityRequest) =>
  okBody<ActivityResponse>(client, "mission-activity", request);

dbTest("a user gets activity only of the missions they own, as the node holds it", async () => {
  const mine = ownedBy(1);
  assert.ok(mine.length > 0 && mine.length < missionIds.length);
  const answer = await activity(await userClient(1), { missionIds, limit: 1000 });
  assert.ok(answer.rows.length > 0);
  // activity_log.agent_id is bigint: the seed's ids lie past 2^32 and arrive as exact numbers.
  assert.ok(answer.rows.every((row) => Number.isSafeInteger(row.agentId) && row.agentId > 2 ** 32));
  oracle.assertSameRows(
    activityRows(answer),
    await oracle.exactActivity(timescale, mine, { limit: 1000 }),
  );
  assert.deepEqual(
    answer.rows.filter((row) => row.outcome !== outcomes.get(row.missionId)),
    [],
    "each row carries its mission's outcome",
  );
});

dbTest("a user asking only for other users' missions gets no rows", async () => {
  const others = missionIds.filter((id) => owners.get(id) !== seedUserId(2));
  const answer = await activity(await userClient(2), { missionIds: others });
  assert.deepEqual(answer, { rows: [], nextCursor: null });
});

dbTest("the service role gets the activity of every requested mission", async () => {
  const answer = await activity(serviceClient(), { missionIds: missionIds.slice(0, 20) });
  assert.ok(answer.rows.length > 0);
  const seen = new Set(answer.rows.map((row) => row.missionId));
  assert.ok([...seen].every((id) => missionIds.slice(0, 20).includes(id)));
  assert.ok(new Set(answer.rows.map((row) => owners.get(row.missionId))).size > 1);
});

dbTest("rows come newest first and nextCursor pages through all of them", async () => {
  const client = await userClient(3);
  const request = { missionIds: ownedBy(3) };
  const all = await activity(client, { ...request, limit: 1000 });
  assert.equal(all.nextCursor, null);
  const times = all.rows.map((row) => Date.parse(row.eventTime));
  assert.deepEqual(times, [...times].sort((a, b) => b - a));

  const paged: ActivityResponse["rows"] = [];
  let before: string | undefined;
  for (let page = 0; page < 100; page++) {
    const answer = await activity(client, { ...request, limit: 7, before });
    paged.push(...answer.rows);
    if (answer.nextCursor === null) break;
    assert.equal(answer.rows.length, 7, "a page that is not the last is full");
    before = answer.nextCursor;
  }
  assert.deepEqual(paged, all.rows);
});

dbTest("the app client's missionActivity answers as the function does", async () => {
  const client = await userClient(4);
  const request = { missionIds: ownedBy(4), limit: 5, from: "2026-10-05T00:00:00Z" };
  assert.deepEqual(
    await createBridgeClient(client).missionActivity(request),
    await activity(client, request),
  );
});
