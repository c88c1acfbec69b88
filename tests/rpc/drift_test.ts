/**
 * Drift: when the node's export views change, the RPCs keep working or fail naming the change,
 * the doctor names the drift, and bridge.refresh_foreign_tables() (owner and service_role only)
 * replaces the foreign tables in one transaction, keeping grants but none to API roles. Every
 * test restores the views, refreshes and re-analyzes in `finally`: other test files share this
 * stack, and a refresh drops the statistics the planner's pushdown decisions rest on.
 */
import assert from "node:assert/strict";
import { doctorResult } from "../support/doctor.ts";
import { asCaller, connect, dbTest, fixture, restoreExportViews } from "../support/fixture.ts";

const supabase = connect("supabase");
const timescale = connect("timescale");

const service = { role: "service_role" as const };
const refresh = () =>
  asCaller(supabase, service, (tx) =>
    tx<Record<string, string>[]>`
    select * from bridge.refresh_foreign_tables()`);
const changes = (rows: Record<string, string>[]) =>
  Object.fromEntries(rows.map((row) => [row.foreign_table, row.change]));

/** The export views as sql/timescale/02_export.sql defines them, the foreign tables re-imported. */
async function restore() {
  await restoreExportViews(timescale);
  await refresh();
  await supabase.unsafe("analyze bridge.events, bridge.activity_log");
}

const [{ embedding }] = await timescale`
  select event_embedding::text as embedding from public.events order by event_time limit 1`;
const windowFrom = new Date(fixture.until.getTime() - 7 * 86400_000).toISOString();
const calls = {
  search: (tx: typeof supabase) =>
    tx`select event_time, user_token, distance
         from public.search_events(${embedding}::extensions.vector, 5)`,
  histogram: (tx: typeof supabase) =>
    tx`select * from public.event_histogram('1 day', ${windowFrom}, ${fixture.until})`,
  activity: (tx: typeof supabase) =>
    tx`select * from public.mission_activity(array[${fixture.firstMissionId}]::bigint[])`,
};
const call = (name: keyof typeof calls) => asCaller(supabase, service, calls[name]);

const drift = () => doctorResult("drift");

/** export.events with a column added at the end: event_kind, a copy of event_type. */
const eventsWithEventKind = `
  create or replace view export.events as
    select event_time, user_token, agent_key, device_key, location_key, event_type,
           data_payload_proc, event_embedding, event_type as event_kind
      from public.events`;

dbTest("refresh_foreign_tables may be called by service_role, not by API callers", async () => {
  try {
    for (
      const caller of [{ role: "anon" as const }, {
        role: "authenticated" as const,
        sub: crypto.randomUUID(),
      }]
    ) {
      await assert.rejects(
        asCaller(supabase, caller, (tx) => tx`select * from bridge.refresh_foreign_tables()`),
        (error: { code?: string }) => error.code === "42501",
      );
    }
    assert.deepEqual(changes(await refresh()), {
      "bridge.activity_log": "unchanged",
      "bridge.events": "unchanged",
    });
  } finally {
    await restore();
  }
});

dbTest("a refresh that cannot reach the node changes nothing", async () => {
  const tablesNow = () =>
    supabase`select oid::int, relname from pg_class
              where relnamespace = 'bridge'::regnamespace and relkind = 'f' order by relname`;
  const before = await tablesNow();
  const [{ port }] = await supabase`
    select split_part(o, '=', 2) as port from pg_foreign_server s, unnest(s.srvoptions) o
     where s.srvname = 'events_ts' and o like 'port=%'`;
  await supabase.unsafe("alter server events_ts options (set port '1')");
  try {
    await assert.rejects(refresh(), /could not connect to server "events_ts"/);
    assert.deepEqual(await tablesNow(), before);
  } finally {
    await supabase.unsafe(`alter server events_ts options (set port '${port}')`);
  }
});

dbTest("a refresh keeps grants to other roles and gives none to API roles", async () => {
  await supabase.unsafe("create role drift_test_auditor nologin");
  await supabase.unsafe("grant select on bridge.events to drift_test_auditor, authenticated");
  try {
    await refresh();
    const [row] = await supabase`
      select has_table_privilege('drift_test_auditor', 'bridge.events', 'select') as auditor,
             has_table_privilege('authenticated', 'bridge.events', 'select') as authenticated,
             has_table_privilege('service_role', 'bridge.events', 'select') as service_role,
             has_table_privilege('anon', 'bridge.activity_log', 'select') as anon`;
    assert.deepEqual(row, {
      auditor: true,
      authenticated: false,
      service_role: false,
      anon: false,
    });
  } finally {
    await supabase.unsafe("revoke all on bridge.events from drift_test_auditor, authenticated");
    await supabase.unsafe("drop role drift_test_auditor");
    await restore();
  }
});

dbTest("RPCs keep working or name the change when export views change", async () => {
  const search = await call("search");
  const histogram = await call("histogram");
  assert.ok((await call("activity")).length > 0);
  try {
    // A column added to export.events, and details dropped from export.activity_log.
    await timescale.unsafe(eventsWithEventKind);
    await timescale.unsafe(`
      drop view export.activity_log;
      create view export.activity_log as
        select event_time, mission_id, agent_id, action from public.activity_log;
      grant select on export.activity_log to bridge_reader`);

    const found = await drift();
    assert.equal(found.ok, false);
    assert.match(found.detail, /export\.events has event_kind \(text\)/);
    assert.match(found.detail, /bridge\.activity_log reads details, which export\.activity_log/);
    // Before the refresh: the node answers by name, so only the call reading details fails
    // (activity's statement names the export view's columns itself, before and after).
    assert.deepEqual(await call("search"), search);
    assert.deepEqual(await call("histogram"), histogram);
    await assert.rejects(call("activity"), /column a\.details does not exist/);

    assert.deepEqual(changes(await refresh()), {
      "bridge.activity_log": "removed details",
      "bridge.events": "added event_kind text",
    });
    assert.equal((await drift()).ok, true, "the foreign tables match the views again");
    // After it: the RPCs' dynamic SQL uses the new tables; the missing column is named.
    assert.deepEqual(await call("search"), search);
    assert.deepEqual(await call("histogram"), histogram);
    await assert.rejects(call("activity"), /column a\.details does not exist/);
  } finally {
    await restore();
  }
  assert.ok((await call("activity")).length > 0, "restored: activity works again");
  assert.equal((await drift()).ok, true);
});

/** Every foreign table of the bridge as the catalog holds it: oid, grants, options, columns. */
const bridgeTables = () =>
  supabase`
    select c.oid::int, c.relname::text as name, c.relacl::text as grants, f.ftoptions as options,
           (select json_agg(json_build_object(
                     'name', a.attname, 'type', format_type(a.atttypid, a.atttypmod),
                     'not_null', a.attnotnull, 'grants', a.attacl::text) order by a.attnum)
              from pg_attribute a
             where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as columns
      from pg_class c join pg_foreign_table f on f.ftrelid = c.oid
     where c.relnamespace = 'bridge'::regnamespace
     order by c.relname`;

const tableOf = async (name: string) => (await bridgeTables()).find((t) => t.name === name);

/** The columns of export.<view> on the node, as the node's own catalog types them. */
const nodeColumns = (view: string) =>
  timescale`
    select attname::text as name, format_type(atttypid, atttypmod) as type from pg_attribute
     where attrelid = ${`export.${view}`}::regclass and attnum > 0 and not attisdropped
     order by attnum`;

dbTest("a refresh retypes a column whose type changed on the node, keeping NOT NULL", async () => {
  const notNull = (table: Awaited<ReturnType<typeof tableOf>>) =>
    table!.columns.map((c: { name: string; not_null: boolean }) => [c.name, c.not_null]);
  const before = await tableOf("activity_log");
  assert.ok(notNull(before).some(([, flag]: [string, boolean]) => flag), "NOT NULL columns exist");
  try {
    await timescale.unsafe(`
      drop view export.activity_log;
      create view export.activity_log as
        select event_time, agent_id::numeric as agent_id, mission_id, action, details
          from public.activity_log;
      grant select on export.activity_log to bridge_reader`);
    assert.deepEqual(changes(await refresh()), {
      "bridge.activity_log": "agent_id: bigint -> numeric",
      "bridge.events": "unchanged",
    });
    const table = await tableOf("activity_log");
    assert.deepEqual(
      table!.columns.map((c: { name: string; type: string }) => ({ name: c.name, type: c.type })),
      (await nodeColumns("activity_log")).map((c) => ({ ...c })),
    );
    assert.deepEqual(notNull(table), notNull(before), "NOT NULL kept, the retyped column too");
  } finally {
    await restore();
  }
});

dbTest("a refresh adds a table for a new view and drops it when the view goes", async () => {
  try {
    await timescale.unsafe(`
      create view export.mission_days as
        select mission_id, date_bin('1 day', event_time, '2000-01-01') as day, count(*) as n
          from public.activity_log group by 1, 2;
      grant select on export.mission_days to bridge_reader`);
    assert.equal(changes(await refresh())["bridge.mission_days"], "added");
    const added = await tableOf("mission_days");
    assert.ok(added, "bridge.mission_days exists");
    assert.deepEqual(
      added.columns.map((c: { name: string; type: string }) => ({ name: c.name, type: c.type })),
      (await nodeColumns("mission_days")).map((c) => ({ ...c })),
    );
    const [privileges] = await supabase`
      select has_table_privilege('anon', 'bridge.mission_days', 'select') as anon,
             has_table_privilege('authenticated', 'bridge.mission_days', 'select') as authenticated,
             has_table_privilege('service_role', 'bridge.mission_days', 'select') as service_role`;
    assert.deepEqual({ ...privileges }, { anon: false, authenticated: false, service_role: false });
    const [viaBridge] = await supabase`select count(*)::int as n from bridge.mission_days`;
    const [onNode] = await timescale`select count(*)::int as n from export.mission_days`;
    assert.equal(viaBridge.n, onNode.n, "it reads the node's view");

    await timescale.unsafe("drop view export.mission_days");
    assert.deepEqual(changes(await refresh()), {
      "bridge.mission_days": "dropped: export.mission_days no longer exists on the node",
      "bridge.activity_log": "unchanged",
      "bridge.events": "unchanged",
    });
    assert.equal(await tableOf("mission_days"), undefined);
  } finally {
    await timescale.unsafe("drop view if exists export.mission_days");
    await restore();
  }
});

dbTest("a refresh keeps NOT NULL on columns that remain, and table options", async () => {
  const before = await tableOf("events");
  await supabase.unsafe("alter foreign table bridge.events options (add fetch_size '250')");
  try {
    await timescale.unsafe(eventsWithEventKind);
    assert.equal(changes(await refresh())["bridge.events"], "added event_kind text");
    const after = await tableOf("events");
    assert.notEqual(after!.oid, before!.oid, "the table was replaced");
    assert.deepEqual(after!.options.sort(), [...before!.options, "fetch_size=250"].sort());
    const notNull = (table: typeof before) =>
      table!.columns.filter((c: { not_null: boolean }) => c.not_null).map((c: { name: string }) =>
        c.name
      );
    assert.deepEqual(notNull(after), notNull(before));
    assert.ok(notNull(before).length > 0, "the fixture's table has NOT NULL columns");
  } finally {
    await supabase.unsafe("alter foreign table bridge.events options (drop fetch_size)");
    await restore();
  }
});

dbTest(
  "a refresh that fails after dropping a table leaves everything exactly as it was",
  async () => {
    await supabase.unsafe("create role drift_test_reader nologin");
    await supabase.unsafe("grant select on bridge.activity_log to drift_test_reader");
    await supabase.unsafe("alter foreign table bridge.activity_log options (add fetch_size '250')");
    // bridge.activity_log is replaced first (tables go in name order); dropping bridge.events
    // then fails on this function, whose SQL-standard body depends on it. (A view would not do:
    // the refresh drops and recreates views on the foreign tables.)
    await supabase.unsafe(
      `create function public.drift_test_dependent() returns bigint language sql
       begin atomic select count(*) from bridge.events; end`,
    );
    // Each foreign table the refresh drops is told as a notice, which reaches the client even
    // though the failing transaction takes the drop back.
    await supabase.unsafe(
      `create function public.drift_test_tell_drops() returns event_trigger language plpgsql as $$
       declare dropped record;
       begin
         for dropped in select object_identity from pg_event_trigger_dropped_objects()
                         where object_type = 'foreign table' loop
           raise notice 'drift test: dropped %', dropped.object_identity;
         end loop;
       end $$`,
    );
    await supabase.unsafe(
      `create event trigger drift_test_tell_drops on sql_drop
       execute function public.drift_test_tell_drops()`,
    );
    const dropped: string[] = [];
    const told = connect("supabase", {
      onnotice: ({ message }) => {
        const table = message.match(/^drift test: dropped (.+)$/)?.[1];
        if (table) dropped.push(table);
      },
    });
    try {
      const before = await bridgeTables();
      await assert.rejects(
        asCaller(told, service, (tx) => tx`select * from bridge.refresh_foreign_tables()`),
        (error: { code?: string }) => {
          assert.equal(error.code, "2BP01", "dependent objects still exist");
          return true;
        },
      );
      assert.deepEqual(dropped, ["bridge.activity_log"], "the refresh failed after one drop");
      assert.deepEqual(await bridgeTables(), before);
      const [{ staging }] = await supabase`
      select count(*)::int as staging from pg_namespace where nspname = 'bridge_refresh_staging'`;
      assert.equal(staging, 0, "no staging schema is left behind");
    } finally {
      await told.end();
      await supabase.unsafe("drop event trigger drift_test_tell_drops");
      await supabase.unsafe("drop function public.drift_test_tell_drops()");
      await supabase.unsafe("drop function public.drift_test_dependent()");
      await supabase.unsafe("alter foreign table bridge.activity_log options (drop fetch_size)");
      await supabase.unsafe("revoke all on bridge.activity_log from drift_test_reader");
      await supabase.unsafe("drop role drift_test_reader");
    }
  },
);
