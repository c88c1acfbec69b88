/**
 * An app's view, end to end: supabase-js `functions.invoke` (through the bridge's typed client)
 * calls every function with a signed-in user's session, as an app holding the publishable key
 * does, and with the secret key, as the app's server does.
 */
import assert from "node:assert/strict";
import type { SupabaseClient } from "@supabase/supabase-js";
import { createBridgeClient } from "../../functions/_shared/client.ts";
import { healthResponse } from "../../functions/_shared/schemas.ts";
import {
  clientWith,
  embedding,
  errorOf,
  invoke,
  serviceClient,
  userToken,
} from "../support/functions_fixture.ts";

const histogram = {
  bucket: "1 day" as const,
  from: "2026-10-01T00:00:00Z",
  to: "2026-10-08T00:00:00Z",
};

async function callEveryFunction(supabase: SupabaseClient) {
  const bridge = createBridgeClient(supabase);
  const search = await bridge.searchEvents({ embedding: embedding(5), k: 3 });
  assert.equal(search.count, 3);
  const activity = await bridge.missionActivity({ missionIds: [10001, 10002, 10003], limit: 10 });
  assert.ok(activity.rows.length <= 10);
  const { buckets } = await bridge.eventHistogram(histogram);
  assert.ok(buckets.length > 0);
  return await invoke(supabase, "bridge-health", { method: "GET" });
}

Deno.test("a signed-in user calls every function through supabase-js", async () => {
  const health = await callEveryFunction(clientWith(await userToken(7)));
  assert.equal(health.status, 403);
  assert.match(errorOf(health).message, /needs service_role/);
});

Deno.test("the secret key calls every function through supabase-js", async () => {
  const health = await callEveryFunction(serviceClient());
  assert.equal(health.status, 200, JSON.stringify(health.body));
  assert.equal(healthResponse.parse(health.body).ok, true);
});
