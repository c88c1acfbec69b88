/**
 * Adopting a node that already holds the founding document's tables with rows: once as
 * hypertables (with an export view left by an earlier version of sql/timescale/, whose columns
 * changed order and type), once as plain tables with a plain time index. Applying
 * sql/timescale/ drops, rewrites and retypes nothing, leaves every column's checksum as it was,
 * keeps a plain table plain and only adds the missing indexes; applying it again changes
 * nothing. Then, with the bridge pointed at that node, the founding document's two queries give
 * the node's own answer, as RPC calls and as SQL over the foreign tables run by their owner.
 *
 * Each variant is its own database on the test stack's Timescale node; the bridge's server is
 * pointed back at the fixture's database, re-analyzed, in `finally`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import type { CheckResult } from "../../scripts/doctor/check.ts";
import { runDoctor } from "../../scripts/doctor/run.ts";
import { repoRoot } from "../../scripts/stack/config.ts";
import { psql } from "../../scripts/stack/postgres.ts";
import { asCaller, connect, dbTest, env, serverOption, type Sql } from "../support/fixture.ts";

const supabase = connect("supabase");
const timescale = connect("timescale");
const tables = ["public.events", "public.activity_log"];

/** The founding document's tables, as a user created them (no constraints but the time's). */
const foundingTables = `
  create schema extensions;
  create extension vector with schema extensions;
  create extension timescaledb;
  create table public.events (
    event_time timestamptz not null, user_token text, agent_key text, device_key text,
    location_key text, event_type text, data_payload_raw jsonb, data_payload_proc jsonb,
    event_embedding extensions.vector(768));
  create table public.activity_log (
    event_time timestamptz not null, agent_id bigint, mission_id bigint, action text,
    details jsonb)`;

/** 3000 events (every tenth without an embedding) and 600 activity rows, 200 of mission 12345. */
const rows = `
  insert into public.events
  select timestamptz '2026-10-01' + n * interval '3 minutes', 'u_' || n % 37,
         'agent-' || n % 11, 'dev-' || n % 23, 'loc-' || n % 7,
         (array['click', 'view', 'purchase'])[1 + n % 3],
         jsonb_build_object('email', 'person' || n || '@example.org', 'note', 'call me'),
         jsonb_build_object('score', n % 10),
         case when n % 10 <> 0 then
           (select array_agg(sin(n * d + d * d))::real[]::extensions.vector
              from generate_series(1, 768) d) end
    from generate_series(1, 3000) n;
  insert into public.activity_log
  select timestamptz '2026-10-01' + n * interval '7 minutes', 4294967296 + n % 13 * 1000003,
         case when n % 3 = 0 then 12345 else 10001 + n % 50 end,
         (array['scan', 'navigate', 'report'])[1 + n % 3], jsonb_build_object('n', n)
    from generate_series(1, 600) n`;

const variants = {
  hypertables: `
    select create_hypertable('public.events', by_range('event_time', interval '1 day'));
    select create_hypertable('public.activity_log', by_range('event_time', interval '1 day'));
    ${rows};
    create schema export;
    create view export.activity_log as
      select event_time, mission_id, agent_id::text as agent_id, action, details
        from public.activity_log;
    grant select on export.activity_log to pg_monitor`,
  "plain tables": `
    create index events_time on public.events (event_time);
    create index activity_log_time on public.activity_log (event_time);
    ${rows}`,
};

const urlOf = (database: string) => {
  const url = new URL(env("TIMESCALE_DB_URL"));
  url.pathname = `/${database}`;
  return url.href;
};

async function applyNodeScripts(database: string) {
  const folder = join(repoRoot, "sql", "timescale");
  const files = [...Deno.readDirSync(folder)].map((entry) => entry.name)
    .filter((name) => name.endsWith(".sql")).sort();
  for (const file of files) {
    await psql(urlOf(database), "", {
      file: join(folder, file),
      vars: { bridge_password: env("BRIDGE_LINK_PASSWORD") },
    });
  }
}

/** Row count and a checksum of every column of each table, in a row order of its own. */
async function contents(node: Sql) {
  const result: Record<string, unknown> = {};
  for (const table of tables) {
    const columns = (await node`
      select attname::text as name from pg_attribute
       where attrelid = ${table}::regclass and attnum > 0 and not attisdropped
       order by attnum`).map((row) => row.name as string);
    const sums = columns.map((column) =>
      `md5(string_agg(coalesce(t.${column}::text, 'NULL'), '|' order by t::text)) as ${column}`
    );
    [result[table]] = await node.unsafe(
      `select count(*)::int as rows, ${sums.join(", ")} from ${table} t`,
    );
  }
  return result;
}

/** The tables' columns, storage (a rewrite changes relfilenode) and chunking. */
async function tableStructure(node: Sql) {
  return {
    columns: [
      ...await node`
      select attrelid::regclass::text as table, attnum, attname::text,
             format_type(atttypid, atttypmod) as type, attnotnull
        from pg_attribute
       where attrelid = any(${tables}::regclass[]) and attnum > 0 and not attisdropped
       order by 1, 2`,
    ],
    storage: [
      ...await node`
      select c.oid::regclass::text as relation, c.relfilenode::int
        from pg_class c
       where c.oid = any(${tables}::regclass[])
          or c.oid in (select inhrelid from pg_inherits where inhparent = any(${tables}::regclass[]))
       order by 1`,
    ],
    hypertables: [
      ...await node`
      select hypertable_name::text, column_name::text, time_interval::text
        from timescaledb_information.dimensions order by 1`,
    ],
  };
}

/** Everything a second application could touch: tables, indexes, export views and grants. */
async function fullStructure(node: Sql) {
  return {
    ...await tableStructure(node),
    indexes: [
      ...await node`
      select indexrelid::int, indexrelid::regclass::text as name, pg_get_indexdef(indexrelid)
        from pg_index where indrelid = any(${tables}::regclass[]) order by 2`,
    ],
    views: [
      ...await node`
      select c.oid::int, c.relname::text, pg_get_viewdef(c.oid), c.relacl::text
        from pg_class c where c.relnamespace = 'export'::regnamespace order by 2`,
    ],
  };
}

const queryVector = `[${Array.from({ length: 768 }, (_, d) => Math.cos(d * 0.37).toFixed(5))}]`;
const nearestKey = (row: Record<string, unknown>) =>
  `${(row.event_time as Date).toISOString()}|${row.user_token}|${row.event_type}|` +
  (row.distance as number).toFixed(9);
const activityKey = (row: Record<string, unknown>) =>
  `${row.id}|${row.outcome}|${(row.event_time as Date).toISOString()}|${row.action}`;

/** The founding document's two queries through the bridge equal the node's own answers. */
async function assertFoundingQueries(node: Sql) {
  const nodeNearest = await node.begin(async (tx) => {
    // The node's own answer, with its HNSW index as the link role runs it
    // (sql/timescale/03_bridge_reader.sql), not an exact scan: this table's embeddings lie within
    // 0.01 of one another from the query, where approximate and exact search differ (seen: 7 of
    // 10; docs/design.md § iterative scans keep k rows under a filter). What is proven is that
    // the bridge answers the founding query as the node does.
    await tx`set local hnsw.ef_search = 100`;
    await tx`set local hnsw.iterative_scan = strict_order`;
    await tx`set local search_path = public, extensions`;
    return tx`
      select event_time, user_token, event_type, event_embedding <=> ${queryVector}::vector as distance
        from events where event_embedding is not null
       order by distance limit 10`;
  });
  assert.equal(nodeNearest.length, 10);
  const rpcNearest = await asCaller(supabase, { role: "service_role" }, (tx) =>
    tx`
    select event_time, user_token, event_type, distance
      from public.search_events(${queryVector}::extensions.vector, 10)`);
  assert.deepEqual(rpcNearest.map(nearestKey), nodeNearest.map(nearestKey));
  const ownerNearest = await supabase.begin(async (tx) => {
    await tx`set local search_path = public, extensions`;
    return tx`
      select event_time, user_token, event_type, event_embedding <=> ${queryVector}::vector as distance
        from bridge.events where event_embedding is not null
       order by distance limit 10`;
  });
  assert.deepEqual(ownerNearest.map(nearestKey), nodeNearest.map(nearestKey));

  const [{ outcome }] = await supabase`select outcome from public.missions where id = 12345`;
  const nodeActivity = (await node`
    select mission_id as id, event_time, action from activity_log where mission_id = 12345`)
    .map((row) => activityKey({ ...row, outcome })).sort();
  assert.equal(nodeActivity.length, 200);
  const rpcActivity = await asCaller(supabase, { role: "service_role" }, (tx) =>
    tx`
    select mission_id as id, outcome, event_time, action
      from public.mission_activity(array[12345]::bigint[], max_rows => 1000)`);
  assert.deepEqual(rpcActivity.map(activityKey).sort(), nodeActivity);
  const ownerActivity = await supabase`
    select m.id, m.outcome, a.event_time, a.action
      from public.missions m join bridge.activity_log a on m.id = a.mission_id
     where m.id = 12345`;
  assert.deepEqual(ownerActivity.map(activityKey).sort(), nodeActivity);
}

/** Points the bridge's server at `database` on the test node, with fresh statistics. */
/** The database the bridge's server names on the node, as the stack set it up. */
const stackDatabase = await serverOption(supabase, "dbname");

async function pointBridgeAt(database: string) {
  await supabase.unsafe(`alter server events_ts options (set dbname '${database}')`);
  await supabase`analyze bridge.events, bridge.activity_log`;
}

dbTest("sql/timescale/ creates exactly the founding document's columns, in order", async () => {
  const columns = await timescale`
    select attrelid::regclass::text as table, attname::text as name,
           format_type(atttypid, atttypmod) as type
      from pg_attribute
     where attrelid = any(${tables}::regclass[]) and attnum > 0 and not attisdropped
     order by attrelid::regclass::text, attnum`;
  assert.deepEqual(columns.map((c) => `${c.table}.${c.name} ${c.type}`), [
    "activity_log.event_time timestamp with time zone",
    "activity_log.agent_id bigint",
    "activity_log.mission_id bigint",
    "activity_log.action text",
    "activity_log.details jsonb",
    "events.event_time timestamp with time zone",
    "events.user_token text",
    "events.agent_key text",
    "events.device_key text",
    "events.location_key text",
    "events.event_type text",
    "events.data_payload_raw jsonb",
    "events.data_payload_proc jsonb",
    "events.event_embedding extensions.vector(768)",
  ]);
});

for (const [variant, setup] of Object.entries(variants)) {
  dbTest(`adopting a node with the founding tables as ${variant} keeps every row`, async () => {
    const database = `adopt_${variant.replace(" ", "_")}`;
    await timescale.unsafe(`drop database if exists ${database} with (force)`);
    await timescale.unsafe(`create database ${database}`);
    const node = postgres(urlOf(database), { max: 1, onnotice: () => {} });
    try {
      await node.unsafe(`${foundingTables}; ${setup}`);
      const before = { data: await contents(node), tables: await tableStructure(node) };

      await applyNodeScripts(database);
      const once = { data: await contents(node), full: await fullStructure(node) };
      assert.deepEqual(once.data, before.data, "every column's checksum is unchanged");
      assert.deepEqual(
        { ...once.full, indexes: undefined, views: undefined },
        { ...before.tables, indexes: undefined, views: undefined },
        "nothing dropped, rewritten, retyped or converted",
      );
      const indexes = once.full.indexes.map((index) => index.name);
      for (
        const index of ["events_embedding_hnsw", "events_type_time", "activity_log_mission_time"]
      ) {
        assert.ok(indexes.includes(index), `${index} was created: ${indexes.join(", ")}`);
      }
      assert.deepEqual(
        (await node`
          select attname::text, format_type(atttypid, atttypmod) as type from pg_attribute
           where attrelid = 'export.activity_log'::regclass and attnum > 0 order by attnum`)
          .map((row) => `${row.attname} ${row.type}`),
        [
          "event_time timestamp with time zone",
          "agent_id bigint",
          "mission_id bigint",
          "action text",
          "details jsonb",
        ],
      );

      await applyNodeScripts(database);
      assert.deepEqual(
        { data: await contents(node), full: await fullStructure(node) },
        once,
        "a second application changes nothing",
      );

      await pointBridgeAt(database);
      await assertFoundingQueries(node);
      const doctor = await runDoctor(env("SUPABASE_DB_URL"));
      const failed = doctor.filter((check: CheckResult) => !check.ok);
      assert.deepEqual(failed, [], "the doctor passes on the adopted node");
      const hypertables = doctor.find((check) => check.name === "hypertables")!.detail;
      if (variant === "plain tables") {
        assert.match(
          hypertables,
          /public\.events is a plain table, not a hypertable: .*cannot skip/,
        );
        assert.match(hypertables, /public\.activity_log is a plain table, not a hypertable/);
      } else {
        assert.match(
          hypertables,
          /public\.events is a hypertable \(chunks of 1 day by event_time\)/,
        );
        const [{ kept }] = await node`
          select has_table_privilege('pg_monitor', 'export.activity_log', 'select') as kept`;
        assert.equal(kept, true, "the replaced view keeps its grants");
      }
    } finally {
      await node.end();
      await pointBridgeAt(stackDatabase);
      await timescale.unsafe(`drop database if exists ${database} with (force)`);
    }
  });
}
