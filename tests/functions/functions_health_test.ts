/** bridge-health end to end: what it reports about the link, and who may ask. */
import assert from "node:assert/strict";
import { healthResponse } from "../../functions/_shared/schemas.ts";
import { clientWith, errorOf, invoke, serviceClient, userClient } from "../support/functions.ts";

Deno.test("bridge-health reports a reachable node and a pushed-down search", async () => {
  const answer = await invoke(serviceClient(), "bridge-health", { method: "GET" });
  assert.equal(answer.status, 200, JSON.stringify(answer.body));
  const health = healthResponse.parse(answer.body);
  assert.equal(health.ok, true);
  assert.equal(health.timescale.reachable, true);
  assert.ok(health.timescale.roundTripMs !== null && health.timescale.roundTripMs >= 0);
  assert.equal(health.timescale.problem, null);
  assert.equal(health.search.pushedDown, true);
  assert.match(health.search.remoteSql ?? "", /ORDER BY .*OPERATOR\(extensions\.<=>\).*LIMIT/);
});

Deno.test("bridge-health is for the service role only", async () => {
  const asUser = await invoke(await userClient(1), "bridge-health", { method: "GET" });
  assert.equal(asUser.status, 403);
  assert.match(errorOf(asUser).message, /needs service_role/);
  const beforeSignIn = await invoke(clientWith(), "bridge-health", { method: "GET" });
  assert.equal(beforeSignIn.status, 403);
  assert.match(errorOf(beforeSignIn).message, /sign in/);
});
