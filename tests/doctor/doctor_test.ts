/**
 * The doctor (`npm run doctor`): every check passes on the healthy stack, and each deliberate
 * break is named by the check that owns it, with a fix, and passes again once repaired. Every
 * break is undone in `finally`: the other test files share this stack.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import type { CheckResult } from "../../scripts/doctor/check.ts";
import { availableMethod } from "../../scripts/doctor/pushdown.ts";
import { runDoctor } from "../../scripts/doctor/run.ts";
import { doctorCli, doctorNodeChecks } from "../support/doctor.ts";
import { connect, dbTest, env, remoteWorkOf, restoreExportViews } from "../support/fixture.ts";
import { healthResponse } from "../../functions/_shared/schemas.ts";
import { invoke, serviceClient } from "../support/functions.ts";

const supabase = connect("supabase");
const timescale = connect("timescale");
const sqlFolder = new URL("../../sql/timescale/", import.meta.url);

const allChecks = [...doctorNodeChecks, "not exposed to API roles", "event access"];

/** The doctor's failed checks, keyed by name. */
async function failures(): Promise<Map<string, CheckResult>> {
  const results = await runDoctor(env("SUPABASE_DB_URL"));
  return new Map(results.filter((r) => !r.ok).map((r) => [r.name, r]));
}

/** Asserts that `check` failed with a detail matching `pattern`, and says how to fix it. */
function assertNamed(failed: Map<string, CheckResult>, check: string, pattern: RegExp) {
  const result = failed.get(check);
  assert.ok(result, `expected ${check} to fail; failed: ${[...failed.keys()].join(", ")}`);
  assert.match(result.detail, pattern);
  assert.ok(result.fix && result.fix.length > 0, `${check} gives a fix`);
}

/** After a repair: the checks named (every check, when none is) pass again. */
async function assertPassAgain(...checks: string[]) {
  const failed = await failures();
  for (const check of checks.length > 0 ? checks : allChecks) {
    assert.equal(failed.has(check), false, `${check} passes again: ${failed.get(check)?.detail}`);
  }
}

dbTest("doctor passes every check on a healthy stack and exits 0", async () => {
  const json = await doctorCli("--db-url", env("SUPABASE_DB_URL"), "--json");
  assert.equal(json.code, 0, json.stdout + json.stderr);
  const report = JSON.parse(json.stdout);
  assert.equal(report.ok, true);
  assert.deepEqual(report.checks.map((c: CheckResult) => c.name), allChecks);
  assert.ok(report.checks.every((c: CheckResult) => c.ok && !c.fix));

  const text = await doctorCli("--db-url", env("SUPABASE_DB_URL"));
  assert.equal(text.code, 0);
  const lines = text.stdout.split("\n").filter((line) => /^(ok|FAIL) /.test(line));
  assert.equal(lines.length, allChecks.length, "one line per check");
  assert.match(text.stdout, /link +the node .* answers: round trip [\d.]+ ms/);
  assert.match(text.stdout, new RegExp(`^${allChecks.length} passed, 0 failed$`, "m"));
});

dbTest("doctor reads Remote SQL with EXPLAIN where auto_explain cannot be loaded", async () => {
  // A role that is not superuser, as postgres is not on a hosted project, may not load it.
  const url = new URL(env("SUPABASE_DB_URL"));
  url.username = "authenticator";
  url.password = env("AUTHENTICATOR_PASSWORD");
  const notSuperuser = postgres(url.href, { max: 1, onnotice: () => {} });
  try {
    assert.equal(await availableMethod(notSuperuser), "explain");
  } finally {
    await notSuperuser.end();
  }
  const results = await runDoctor(env("SUPABASE_DB_URL"), { planMethod: "explain" });
  const pushdown = results.filter((r) => r.name.startsWith("pushdown"));
  assert.equal(pushdown.length, 3);
  for (const result of pushdown) {
    assert.ok(result.ok, `${result.name}: ${result.detail}`);
    // Activity's statements are composed by its step, not planned: it lists them as sent.
    assert.match(
      result.detail,
      result.name === "pushdown mission_activity"
        ? /the statements public\.mission_activity sends each node/
        : /EXPLAIN of the statement/,
    );
  }
});

dbTest("doctor names a server without extensions 'vector', and exits 1", async () => {
  await supabase.unsafe("alter server events_ts options (drop extensions)");
  try {
    const failed = await failures();
    assertNamed(failed, "server", /lacks extensions 'vector'/);
    assert.match(failed.get("server")!.fix!, /add extensions 'vector'/);
    assertNamed(failed, "pushdown search_events", /lacks ORDER BY event_embedding <=>/);
    const cli = await doctorCli("--db-url", env("SUPABASE_DB_URL"));
    assert.equal(cli.code, 1);
    assert.match(cli.stdout, /FAIL {2}server/);
  } finally {
    await supabase.unsafe("alter server events_ts options (add extensions 'vector')");
  }
  await assertPassAgain("server", "pushdown search_events");
});

dbTest("doctor names a vector type in another schema on the node", async () => {
  await timescale.unsafe("alter extension vector set schema public");
  try {
    const failed = await failures();
    assertNamed(failed, "pgvector", /in extensions on Supabase but in public on the node/);
    assert.match(failed.get("pgvector")!.fix!, /alter extension vector set schema extensions/);
    assertNamed(failed, "drift", /event_embedding is extensions\.vector\(768\) on Supabase but/);
  } finally {
    await timescale.unsafe("alter extension vector set schema extensions");
  }
  await assertPassAgain("pgvector", "drift");
});

dbTest("doctor names an index dropped on the node", async () => {
  const schema = Deno.readTextFileSync(new URL("01_schema.sql", sqlFolder));
  const create = schema.match(/create index if not exists activity_log_mission_time[^;]+;/)![0];
  await timescale.unsafe("drop index public.activity_log_mission_time");
  try {
    const failed = await failures();
    assertNamed(failed, "node index for activity", /public\.activity_log .*lacks a btree index/);
    assert.equal(failed.has("node index for search"), false);
  } finally {
    await timescale.unsafe(create);
  }
  await assertPassAgain("node index for activity");
});

dbTest("doctor names a column added to an export view, and one named like PII", async () => {
  await timescale.unsafe(`
    create or replace view export.events as
      select event_time, user_token, agent_key, device_key, location_key, event_type,
             data_payload_proc, event_embedding, user_token as contact_email
        from public.events`);
  try {
    const failed = await failures();
    assertNamed(failed, "drift", /export\.events has contact_email \(text\), bridge\.events lacks/);
    assertNamed(failed, "no PII by name", /export\.events\.contact_email/);
  } finally {
    await restoreExportViews(timescale);
  }
  await assertPassAgain("drift", "no PII by name");
});

dbTest("doctor names data_payload_raw if the export view lets it cross the link", async () => {
  await timescale.unsafe(`
    create or replace view export.events as
      select event_time, user_token, agent_key, device_key, location_key, event_type,
             data_payload_proc, event_embedding, data_payload_raw
        from public.events`);
  try {
    const failed = await failures();
    assertNamed(failed, "no PII by name", /export\.events\.data_payload_raw/);
    const cli = await doctorCli("--db-url", env("SUPABASE_DB_URL"));
    assert.equal(cli.code, 1);
    assert.match(
      cli.stdout,
      /FAIL {2}no PII by name +columns that look like personal data: .*data_payload_raw/,
    );
  } finally {
    await restoreExportViews(timescale);
  }
  await assertPassAgain("no PII by name");
});

/**
 * Runs `grant` on the Supabase node: the exposure check alone fails, naming what `pattern`
 * matches; after `revoke` it passes again.
 */
async function assertExposureNamed(grant: string, revoke: string, pattern: RegExp) {
  await supabase.unsafe(grant);
  try {
    const failed = await failures();
    assertNamed(failed, "not exposed to API roles", pattern);
    assert.equal(failed.size, 1, [...failed.keys()].join(", "));
  } finally {
    await supabase.unsafe(revoke);
  }
  await assertPassAgain("not exposed to API roles");
}

dbTest("doctor names a bridge table granted to authenticated", () =>
  assertExposureNamed(
    "grant select on bridge.events to authenticated",
    "revoke select on bridge.events from authenticated",
    /authenticated can SELECT bridge\.events/,
  ));

dbTest("doctor names a definer function anon may run", () =>
  assertExposureNamed(
    "grant execute on function bridge.refresh_foreign_tables() to anon",
    "revoke execute on function bridge.refresh_foreign_tables() from anon",
    /anon can EXECUTE bridge\.refresh_foreign_tables\(\)/,
  ));

dbTest("doctor names a write privilege of the link role on the node", async () => {
  await timescale.unsafe("grant insert on export.activity_log to bridge_reader");
  try {
    const failed = await failures();
    assertNamed(failed, "link read-only", /bridge_reader holds INSERT on export\.activity_log/);
  } finally {
    await timescale.unsafe("revoke insert on export.activity_log from bridge_reader");
  }
  await assertPassAgain("link read-only");
});

dbTest("doctor fails every node check when the node does not answer", async () => {
  const [{ port }] = await supabase`
    select split_part(o, '=', 2) as port
      from pg_foreign_server s, unnest(s.srvoptions) o
     where s.srvname = 'events_ts' and o like 'port=%'`;
  await supabase.unsafe("alter server events_ts options (set port '1')");
  try {
    const results = await runDoctor(env("SUPABASE_DB_URL"));
    const link = results.find((r) => r.name === "link")!;
    assert.equal(link.ok, false);
    assert.match(link.detail, /does not answer through events_ts/);
    const skipped = results.filter((r) => /^not checked/.test(r.detail)).map((r) => r.name);
    assert.equal(skipped.length, 11, skipped.join(", "));
    assert.ok(results.find((r) => r.name === "not exposed to API roles")!.ok);
  } finally {
    await supabase.unsafe(`alter server events_ts options (set port '${port}')`);
  }
  await assertPassAgain();
});

dbTest("doctor leaves no scratch schema behind", async () => {
  await runDoctor(env("SUPABASE_DB_URL"));
  const [{ n }] = await supabase`
    select count(*)::int as n from pg_namespace where nspname like 'doctor\\_scratch%'`;
  assert.equal(n, 0);
});

dbTest("doctor reports the event access mode in force", async () => {
  const line = async () =>
    (await runDoctor(env("SUPABASE_DB_URL"))).find((r) => r.name === "event access")!;
  const scoped = await line();
  assert.equal(scoped.ok, true);
  assert.match(scoped.detail, /^scoped: signed-in users see only .* \(\d+ grants\)/);
  await supabase`update bridge.event_access set mode = 'open'`;
  try {
    const open = await line();
    assert.equal(open.ok, true);
    assert.match(open.detail, /^open: every signed-in user sees every event/);
  } finally {
    await supabase`update bridge.event_access set mode = 'scoped'`;
  }
});

dbTest(
  "a search statement that loses its pushdown shows in bridge-health, the doctor and the Remote SQL at once",
  async () => {
    const step = "bridge.nearest_events";
    const [{ definition }] = await supabase`
    select pg_catalog.pg_get_functiondef(p.oid) as definition
      from pg_catalog.pg_proc p
     where p.oid = (select min(oid) from pg_catalog.pg_proc
                     where proname = 'nearest_events' and pronamespace = 'bridge'::regnamespace)`;
    // random() is volatile, so postgres_fdw cannot ship the ORDER BY: every row crosses the link.
    const ordered = "order by e.event_embedding operator(extensions.<=>) $1";
    assert.ok(definition.includes(ordered), `${step} orders by distance`);
    const broken = definition.replace(
      ordered,
      "order by (e.event_embedding operator(extensions.<=>) $1) + 0 * random()",
    );
    try {
      await supabase.unsafe(broken);
      const health = healthResponse.parse(
        (await invoke(serviceClient(), "bridge-health", { method: "GET" })).body,
      );
      assert.equal(health.search.pushedDown, false, JSON.stringify(health.search));
      assert.equal(health.ok, false);

      assertNamed(await failures(), "pushdown search_events", /ORDER BY event_embedding <=>/);
      const fallback = await runDoctor(env("SUPABASE_DB_URL"), { planMethod: "explain" });
      assert.equal(fallback.find((r) => r.name === "pushdown search_events")?.ok, false);

      const { remoteSql } = await remoteWorkOf(
        "select * from public.search_events($1::extensions.vector, 5)",
        [`[${Array(768).fill(0.1).join(",")}]`],
      );
      assert.equal(remoteSql.length, 1);
      assert.doesNotMatch(remoteSql[0], /ORDER BY/);
    } finally {
      await supabase.unsafe(definition);
    }
    const health = healthResponse.parse(
      (await invoke(serviceClient(), "bridge-health", { method: "GET" })).body,
    );
    assert.equal(health.search.pushedDown, true);
  },
);
