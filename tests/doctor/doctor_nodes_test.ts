/**
 * The doctor checks every node the bridge reads, found in the catalog: a second foreign server
 * with foreign tables in bridge gets its own lines, named after it, and a `nodes` line lists
 * the nodes. Each test adds the second node as an operator would (the doctor's own connection
 * cannot see another's uncommitted catalog) and drops it in `finally`: the other test files
 * share this stack.
 */
import assert from "node:assert/strict";
import type { CheckResult } from "../../scripts/doctor/check.ts";
import { runDoctor } from "../../scripts/doctor/run.ts";
import { doctorNodeChecks } from "../support/doctor.ts";
import { connect, dbTest, env } from "../support/fixture.ts";

const supabase = connect("supabase");
const timescale = connect("timescale");

/** events_ts's options as `name 'value', ...`, with `changes` set over them. */
async function serverOptions(changes: Record<string, string> = {}) {
  const [{ options }] = await supabase`
    select srvoptions as options from pg_foreign_server where srvname = 'events_ts'`;
  const merged = Object.fromEntries(
    (options as string[]).map((o) => [o.slice(0, o.indexOf("=")), o.slice(o.indexOf("=") + 1)]),
  );
  return Object.entries({ ...merged, ...changes })
    .map(([name, value]) => `${name} '${value.replaceAll("'", "''")}'`).join(", ");
}

/** Adds foreign server `name` with events_ts's options and postgres's user mapping. */
async function addServer(name: string, changes: Record<string, string> = {}) {
  const [{ user, password }] = await supabase`
    select (select split_part(o, '=', 2) from unnest(umoptions) o where o like 'user=%') as user,
           (select substr(o, 10) from unnest(umoptions) o where o like 'password=%') as password
      from pg_user_mappings where srvname = 'events_ts' and usename = 'postgres'`;
  await supabase.unsafe(
    `create server ${name} foreign data wrapper postgres_fdw options (${await serverOptions(
      changes,
    )});
     create user mapping for postgres server ${name}
       options (user '${user}', password '${password.replaceAll("'", "''")}')`,
  );
}

const byName = (results: CheckResult[]) => new Map(results.map((r) => [r.name, r]));

dbTest("doctor checks a second node through its own server and names it in each line", async () => {
  await addServer("events_b");
  try {
    // The node's export views as foreign tables on the second server: activity_log_b in
    // bridge, events_b elsewhere but a partition, with a slice, of a partitioned table in bridge.
    await supabase.unsafe(`
      create schema doctor_node_b;
      import foreign schema export from server events_b into doctor_node_b;
      alter foreign table doctor_node_b.events rename to events_b;
      alter foreign table doctor_node_b.activity_log rename to activity_log_b;
      alter foreign table doctor_node_b.activity_log_b set schema bridge;
      create table bridge.events_tiers (like doctor_node_b.events_b)
        partition by range (event_time);
      alter table bridge.events_tiers attach partition doctor_node_b.events_b
        for values from ('2026-01-01 00:00+00') to ('2027-01-01 00:00+00');
      analyze doctor_node_b.events_b, bridge.activity_log_b`);
    const results = await runDoctor(env("SUPABASE_DB_URL"));
    assert.deepEqual(results.map((r) => r.name), [
      "nodes",
      ...doctorNodeChecks.map((check) => `${check} [events_b]`),
      ...doctorNodeChecks.map((check) => `${check} [events_ts]`),
      "not exposed to API roles",
      "event access",
    ]);
    const failed = results.filter((r) => !r.ok);
    assert.deepEqual(failed, [], "every line passes");

    const lines = byName(results);
    assert.match(
      lines.get("nodes")!.detail,
      /^events_b \(doctor_node_b\.events_b FOR VALUES FROM \('2026-01-01[^']*'\) TO \('2027-01-01[^']*'\)\), events_ts \(no slice\)$/,
    );
    const [{ version }] = await timescale`select current_setting('server_version') as version`;
    for (const node of ["events_b", "events_ts"]) {
      assert.match(lines.get(`server [${node}]`)!.detail, new RegExp(`^${node} → `));
      assert.ok(
        lines.get(`link [${node}]`)!.detail.includes(`the node (PostgreSQL ${version}) answers`),
        lines.get(`link [${node}]`)!.detail,
      );
      assert.match(lines.get(`link read-only [${node}]`)!.detail, /the node refused a write/);
    }
    assert.equal(
      lines.get("drift [events_b]")!.detail,
      "bridge.activity_log_b = export.activity_log, doctor_node_b.events_b = export.events, " +
        "column for column",
    );
    assert.match(
      lines.get("statistics [events_b]")!.detail,
      /doctor_node_b\.events_b on events_b: local statistics ≈ \d+ rows, the node's own ≈ \d+/,
    );
    // The RPCs read bridge.events and bridge.activity_log, which only events_ts holds.
    assert.match(
      lines.get("node index for search [events_b]")!.detail,
      /^events_b holds no rows of bridge\.events/,
    );
    assert.match(
      lines.get("pushdown search_events [events_b]")!.detail,
      /^events_b holds no rows of bridge\.events, which public\.search_events reads/,
    );
    assert.match(
      lines.get("node index for search [events_ts]")!.detail,
      /public\.events \(behind export\.events\) has events_embedding_hnsw/,
    );
    assert.match(
      lines.get("pushdown search_events [events_ts]")!.detail,
      /Remote SQL carries .*ORDER BY event_embedding <=>, LIMIT \(auto_explain of a call/,
    );
  } finally {
    await supabase.unsafe(`
      drop table if exists bridge.events_tiers;
      drop server events_b cascade;
      drop schema if exists doctor_node_b`);
  }
  const names = (await runDoctor(env("SUPABASE_DB_URL"))).map((r) => r.name);
  assert.deepEqual(
    names.slice(0, doctorNodeChecks.length),
    doctorNodeChecks,
    "one node: bare names again",
  );
});

dbTest(
  "a node that does not answer fails its own lines, and the other node is still checked",
  async () => {
    // TEST-NET-1 (RFC 5737): routed nowhere, so the connection attempt waits for connect_timeout.
    await addServer("events_down", { host: "192.0.2.1", port: "5432", connect_timeout: "2" });
    try {
      await supabase.unsafe(`
      create foreign table bridge.events_down (event_time timestamptz) server events_down
        options (schema_name 'export', table_name 'events')`);
      const results = await runDoctor(env("SUPABASE_DB_URL"));
      const lines = byName(results);
      assert.equal(lines.get("nodes")!.detail, "events_down (no slice), events_ts (no slice)");
      assert.equal(lines.get("server [events_down]")!.ok, true);
      const link = lines.get("link [events_down]")!;
      assert.equal(link.ok, false);
      assert.match(link.detail, /^the node does not answer through events_down: /);
      assert.doesNotMatch(link.detail, /\n/, "libpq's two-line message on one report line");
      assert.match(link.fix!, /check the host and port/);
      const skipped = results.filter((r) => /^not checked/.test(r.detail)).map((r) => r.name);
      assert.deepEqual(
        skipped,
        doctorNodeChecks.filter((c) => !["server", "link", "statistics"].includes(c))
          .map((check) => `${check} [events_down]`),
      );
      // Never analyzed: a down node cannot be.
      assert.match(
        lines.get("statistics [events_down]")!.detail,
        /bridge\.events_down on events_down was never analyzed/,
      );

      for (const check of doctorNodeChecks) {
        const line = lines.get(`${check} [events_ts]`)!;
        assert.equal(line.ok, true, `${check} [events_ts]: ${line.detail}`);
      }
      // A call would reach every node; an EXPLAIN reaches none, so it reads the others' plans.
      assert.match(
        lines.get("pushdown search_events [events_ts]")!.detail,
        /EXPLAIN of the statement/,
      );
      assert.equal(lines.get("not exposed to API roles")!.ok, true);
    } finally {
      await supabase.unsafe("drop server events_down cascade");
    }
    assert.ok((await runDoctor(env("SUPABASE_DB_URL"))).every((r) => r.ok), "healthy again");
  },
);
