/**
 * Security: what each role can reach. anon reaches nothing of the bridge, authenticated only the
 * RPCs and the events in its scope, the link role only reads, the link is encrypted, and
 * Supabase's advisors find nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { demoSites } from "../../scripts/seed/scopes.ts";
import { asCaller, type Caller, connect, dbTest, env, seedUserId } from "../support/fixture.ts";

const supabase = connect("supabase");
const vector = `[${Array(768).fill(0.1).join(",")}]`;

const rpcCalls = [
  `select * from public.search_events('${vector}'::extensions.vector, 3)`,
  "select * from public.mission_activity(array[10001]::bigint[])",
  "select * from public.event_histogram('1 day', '2026-10-01', '2026-10-05')",
];

const permissionDenied = (error: { code?: string }) => {
  assert.equal(error.code, "42501");
  return true;
};

for (const call of rpcCalls) {
  const name = call.match(/public\.(\w+)/)![1];
  dbTest(`anon cannot call ${name}`, async () => {
    await assert.rejects(
      asCaller(supabase, { role: "anon" }, (tx) => tx.unsafe(call)),
      permissionDenied,
    );
  });
}

dbTest("anon can use no bridge object", async () => {
  const [row] = await supabase`
    select has_schema_privilege('anon', 'bridge', 'usage') as schema_usage,
           (select count(*)::int from pg_class c join pg_namespace n on n.oid = c.relnamespace
             where n.nspname = 'bridge'
               and has_table_privilege('anon', c.oid, 'select')) as readable_relations,
           (select count(*)::int from pg_proc p join pg_namespace n on n.oid = p.pronamespace
             where n.nspname = 'bridge'
               and has_function_privilege('anon', p.oid, 'execute')) as callable_functions`;
  assert.deepEqual(row, { schema_usage: false, readable_relations: 0, callable_functions: 0 });
});

for (const table of ["bridge.events", "bridge.activity_log"]) {
  dbTest(`authenticated cannot read ${table} directly`, async () => {
    const caller = { role: "authenticated" as const, sub: seedUserId(1) };
    await assert.rejects(
      asCaller(supabase, caller, (tx) => tx.unsafe(`select * from ${table} limit 1`)),
      permissionDenied,
    );
  });
}

dbTest("authenticated cannot call bridge.configure", async () => {
  const caller = { role: "authenticated" as const, sub: seedUserId(1) };
  await assert.rejects(
    asCaller(
      supabase,
      caller,
      (tx) => tx.unsafe("select bridge.configure('evil.example', 5432, 'postgres', 'x', 'y')"),
    ),
    permissionDenied,
  );
});

dbTest("reading bridge.events_in_scope directly shows no other user's events", async () => {
  const read = (statement: string, params: unknown[] = []) =>
    asCaller(
      supabase,
      { role: "authenticated", sub: seedUserId(1) },
      (tx) => tx.unsafe(statement, params as never[]),
    );
  const sites = await read("select distinct location_key from bridge.events_in_scope");
  assert.deepEqual(sites.map((row) => row.location_key).sort(), demoSites(1).sort());
  const theirs = await read(
    "select count(*)::int as n from bridge.events_in_scope where location_key = any($1)",
    [demoSites(2)],
  );
  assert.equal(theirs[0].n, 0);
});

dbTest("calling the activity definer step directly shows no other user's missions", async () => {
  const others = await supabase`
    select id from public.missions where owner = ${seedUserId(2)} order by id limit 20`;
  const rows = await asCaller(supabase, { role: "authenticated", sub: seedUserId(1) }, (tx) =>
    tx`
    select * from bridge.mission_activity_rows(${others.map((row) => Number(row.id))}::bigint[],
      null, null, null, 100, null, null)`);
  assert.equal(rows.length, 0);
});

/** Each step asked for the plan of its statement: plans name tables and show arguments. */
const explainCalls = [
  `select plan from bridge.nearest_events('${vector}'::extensions.vector, 3, null, null, null,
     null, null, null, null, null, explain_only => true)`,
  `select plan from bridge.event_counts('1 day', '2026-10-01', '2026-10-05', null,
     explain_only => true)`,
  `select plan from bridge.mission_activity_rows(array[10001]::bigint[], null, null, null, 100,
     null, null, explain_only => true)`,
];

for (const call of explainCalls) {
  const step = call.match(/bridge\.(\w+)/)![1];
  dbTest(`only a role that bypasses RLS reads the plan of ${step}`, async () => {
    const caller: Caller = { role: "authenticated", sub: seedUserId(1) };
    await assert.rejects(asCaller(supabase, caller, (tx) => tx.unsafe(call)), permissionDenied);
    const [row] = await asCaller(supabase, { role: "service_role" }, (tx) => tx.unsafe(call));
    assert.match(JSON.stringify(row.plan), /"Remote SQL"/);
  });
}

dbTest("user mapping options are invisible to authenticated", async () => {
  const rows = await asCaller(supabase, { role: "authenticated", sub: seedUserId(1) }, (tx) =>
    tx`
    select umoptions from pg_user_mappings where srvname = 'events_ts'`);
  assert.ok(rows.length > 0, "the mapping exists");
  assert.ok(rows.every((row) => row.umoptions === null), "its options are hidden");
});

dbTest("missions follow RLS: owners see their own, service_role all", async () => {
  const mine = await asCaller(supabase, { role: "authenticated", sub: seedUserId(1) }, (tx) =>
    tx`
    select distinct owner from public.missions`);
  assert.deepEqual(mine.map((row) => row.owner), [seedUserId(1)]);
  await assert.rejects(
    asCaller(supabase, { role: "anon" }, (tx) => tx`select count(*) from public.missions`),
    permissionDenied,
  );
  const all = await asCaller(supabase, { role: "service_role" }, (tx) =>
    tx`
    select count(distinct owner)::int as n from public.missions`);
  assert.ok(all[0].n > 1);
});

const writes = [
  "insert into export.events (event_time, user_token, agent_key, device_key, location_key, event_type) values (now(), 'u', 'a', 'd', 'l', 't')",
  "update export.activity_log set action = 'x'",
  "delete from export.activity_log",
  "create table public.intruder (id int)",
  "create table export.intruder (id int)",
  "create schema intruder",
  "create temp table intruder (id int)",
];

for (const statement of writes) {
  dbTest(`bridge_reader cannot: ${statement.split(" ").slice(0, 3).join(" ")}`, async () => {
    const reader = connect("reader");
    try {
      // Read-only is only the role's default: a session may switch it off, so what must stop
      // every write is the lack of privileges.
      const attempt = reader.begin(async (tx) => {
        await tx.unsafe("set transaction read write");
        await tx.unsafe(statement);
      });
      await assert.rejects(attempt, (error: { code?: string; message?: string }) => {
        assert.equal(error.code, "42501", `${error.code}: ${error.message}`);
        return true;
      });
    } finally {
      await reader.end();
    }
  });
}

dbTest("the link to the Timescale node is encrypted", async () => {
  await asCaller(supabase, { role: "service_role" }, (tx) =>
    tx`
    select * from public.event_histogram('1 day', '2026-10-01', '2026-10-02')`);
  const timescale = connect("timescale");
  try {
    const links = await timescale`
      select s.ssl from pg_stat_activity a join pg_stat_ssl s using (pid)
       where a.usename = 'bridge_reader' and a.application_name = 'supabase-fdw-bridge'`;
    assert.ok(links.length > 0, "the bridge holds a connection to the node");
    assert.ok(links.every((link) => link.ssl === true));
  } finally {
    await timescale.end();
  }
});

dbTest("Supabase's advisors report nothing at level warn", async () => {
  const { code, stdout, stderr } = await new Deno.Command(
    join(Deno.cwd(), "node_modules", ".bin", "supabase"),
    {
      args: [
        "db",
        "advisors",
        `--remote=${env("SUPABASE_DB_URL")}`,
        "--type",
        "all",
        "--level",
        "warn",
        "--output-format",
        "json",
      ],
      env: { SUPABASE_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1" },
    },
  ).output();
  const text = new TextDecoder();
  assert.equal(code, 0, text.decode(stderr));
  const { results } = JSON.parse(text.decode(stdout));
  assert.deepEqual(
    results.map((r: { name: string; detail: string }) => `${r.name}: ${r.detail}`),
    [],
  );
});
