/**
 * A down Timescale node: the functions answer 503 within 5 s, whether the node refuses
 * connections (stopped) or accepts them and never answers (hung); bridge-health says the node is
 * unreachable, and everything answers normally again once the node is back, with nothing else
 * restarted (postgres_fdw reconnects on its own).
 */
import assert from "node:assert/strict";
import { REQUEST_DEADLINE_MS } from "../../functions/_shared/http.ts";
import { healthResponse, searchResponse } from "../../functions/_shared/schemas.ts";
import { connect, dbTest, withNodeStopped } from "../support/fixture.ts";
import {
  assertUnavailable,
  embedding,
  errorOf,
  invoke,
  serviceClient,
  userClient,
} from "../support/functions.ts";

const search = { body: { embedding: embedding(3), k: 3 } };

dbTest(
  "a stopped Timescale node is a 503 within 5 s, and the bridge recovers when it returns",
  async () => {
    const client = await userClient(6);
    // Warm: the pool's connections hold cached links to the node, which the stop will cut.
    assert.equal((await invoke(client, "events-search", search)).status, 200);

    await withNodeStopped(async () => {
      await assertUnavailable(
        client,
        "events-search",
        search.body,
        "the Timescale node is not answering: try again shortly",
      );

      const activity = await invoke(serviceClient(), "mission-activity", {
        body: { missionIds: [10001] },
      });
      assert.equal(activity.status, 503);

      const health = await invoke(serviceClient(), "bridge-health", { method: "GET" });
      assert.equal(health.status, 200);
      const report = healthResponse.parse(health.body);
      assert.equal(report.ok, false);
      assert.equal(report.timescale.reachable, false);
      assert.match(report.timescale.problem ?? "", /could not connect/);
    });

    const back = await invoke(client, "events-search", search);
    assert.equal(back.status, 200, JSON.stringify(back.body));
    assert.equal(searchResponse.parse(back.body).count, 3);
    const health = healthResponse.parse(
      (await invoke(serviceClient(), "bridge-health", { method: "GET" })).body,
    );
    assert.equal(health.ok, true);
  },
);

/**
 * A TCP listener on a free loopback port that accepts connections and never sends a byte, as a
 * hung host would: a client's connect succeeds, then its handshake waits forever.
 */
function silentNode() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const held: Deno.Conn[] = [];
  const accepting = (async () => {
    for await (const conn of listener) held.push(conn);
  })();
  return {
    port: (listener.addr as Deno.NetAddr).port,
    async close() {
      listener.close();
      await accepting.catch(() => {});
      for (const conn of held) conn.close();
    },
  };
}

/**
 * A node that accepts and never answers: on PostgreSQL 15, postgres_fdw's connect_timeout (3 s)
 * gives a 503 within 5 s. On 17, postgres_fdw's connection attempt does not end at the
 * connect_timeout, and the call waits until the functions' statement timeout cancels it: a 504
 * within the request deadline (docs/design.md § a node that never answers, on 17).
 */
dbTest("a Timescale node that accepts and never answers is a 503 (15) or a 504 (17)", async () => {
  const supabase = connect("supabase");
  const [{ major }] = await supabase`
    select current_setting('server_version_num')::int / 10000 as major`;
  const client = await userClient(6);
  const [{ port }] = await supabase`
    select option_value as port from pg_catalog.pg_options_to_table(
      (select srvoptions from pg_catalog.pg_foreign_server where srvname = 'events_ts'))
     where option_name = 'port'`;
  const node = silentNode();
  try {
    // Changing the server drops every session's cached link: the next call connects anew.
    await supabase.unsafe(`alter server events_ts options (set port '${node.port}')`);
    const started = performance.now();
    const hung = await invoke(client, "events-search", search);
    const elapsed = performance.now() - started;
    if (major === 15) {
      assert.equal(hung.status, 503, JSON.stringify(hung.body));
      assert.equal(errorOf(hung).code, "unavailable");
      assert.ok(elapsed < 5000, `the 503 took ${Math.round(elapsed)} ms`);
    } else {
      assert.equal(hung.status, 504, JSON.stringify(hung.body));
      assert.equal(errorOf(hung).code, "timeout");
      assert.ok(elapsed < REQUEST_DEADLINE_MS, `the 504 took ${Math.round(elapsed)} ms`);
    }
  } finally {
    await supabase.unsafe(`alter server events_ts options (set port '${port}')`);
    await node.close();
    await supabase.end();
  }
  const back = await invoke(client, "events-search", search);
  assert.equal(back.status, 200, JSON.stringify(back.body));
});
