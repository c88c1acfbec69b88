/**
 * An app's view, end to end: supabase-js `functions.invoke` (through the bridge's typed client)
 * calls every function with a signed-in user's session, as an app holding the publishable key
 * does, and with the secret key, as the app's server does.
 */
import assert from "node:assert/strict";
import type { SupabaseClient } from "@supabase/supabase-js";
import { createBridgeClient } from "../../functions/_shared/client.ts";
import { healthResponse } from "../../functions/_shared/schemas.ts";
import { activityRows } from "../support/answers.ts";
import { connect, dbTest, seedUserId } from "../support/fixture.ts";
import { embedding, errorOf, invoke, serviceClient, userClient } from "../support/functions.ts";
import * as oracle from "../support/oracle.ts";

const supabase = connect("supabase");
const timescale = connect("timescale");
// Missions of seed user 7, whose session calls below: both callers may read their activity.
const missionIds = (await supabase`
  select id::int from public.missions where owner = ${seedUserId(7)} order by id limit 3`)
  .map((row) => row.id as number);
const expectedActivity = await oracle.exactActivity(timescale, missionIds, { limit: 10 });

const histogram = {
  bucket: "1 day" as const,
  from: "2026-10-01T00:00:00Z",
  to: "2026-10-08T00:00:00Z",
};

async function callEveryFunction(supabase: SupabaseClient) {
  const bridge = createBridgeClient(supabase);
  const search = await bridge.searchEvents({ embedding: embedding(5), k: 3 });
  assert.equal(search.count, 3);
  const activity = await bridge.missionActivity({ missionIds, limit: 10 });
  assert.equal(expectedActivity.length, 10, "user 7's missions have 10 rows of activity");
  oracle.assertSameRows(activityRows(activity), expectedActivity);
  const { buckets } = await bridge.eventHistogram(histogram);
  assert.ok(buckets.length > 0);
  return await invoke(supabase, "bridge-health", { method: "GET" });
}

dbTest("a signed-in user calls every function through supabase-js", async () => {
  const health = await callEveryFunction(await userClient(7));
  assert.equal(health.status, 403);
  assert.match(errorOf(health).message, /needs service_role/);
});

dbTest("the secret key calls every function through supabase-js", async () => {
  const health = await callEveryFunction(serviceClient());
  assert.equal(health.status, 200, JSON.stringify(health.body));
  assert.equal(healthResponse.parse(health.body).ok, true);
});
