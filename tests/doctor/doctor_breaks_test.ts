/**
 * Each doctor check seen failing and passing again: a test breaks the deployment in the way the
 * check exists to catch, asserts the check fails with a fix, repairs it and asserts the check
 * passes. pgvector missing or too old on the node is broken on a scratch database of the node,
 * which the link is pointed at for the test. And the CLI's exit codes: 0 all pass, 1 a check
 * failed, 2 it could not run.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { doctorCli, doctorResult } from "../support/doctor.ts";
import { connect, dbTest, env, serverOption } from "../support/fixture.ts";

const supabase = connect("supabase");
const timescale = connect("timescale");
const schemaSql = Deno.readTextFileSync(
  new URL("../../sql/timescale/01_schema.sql", import.meta.url),
);

/** Points one column of a foreign table at another remote column; returns the undo. */
async function remapColumn(table: string, column: string, remote: string) {
  const [{ options }] = await supabase`
    select coalesce(attfdwoptions, '{}') as options from pg_attribute
     where attrelid = ${`bridge.${table}`}::regclass and attname = ${column}`;
  const had = (options as string[]).find((o) => o.startsWith("column_name="));
  const verb = had ? "set" : "add";
  await supabase.unsafe(
    `alter foreign table bridge.${table} alter column ${column} options (${verb} column_name '${
      remote.replaceAll("'", "''")
    }')`,
  );
  return async () => {
    await supabase.unsafe(
      `alter foreign table bridge.${table} alter column ${column} options (${
        had ? `set column_name '${had.slice("column_name=".length)}'` : "drop column_name"
      })`,
    );
  };
}

interface Break {
  check: string;
  /** Breaks the deployment; returns the repair. */
  apply: () => Promise<() => Promise<unknown>>;
  detail: RegExp;
  fix: RegExp;
}

const breaks: Break[] = [
  {
    check: "link encrypted",
    apply: async () => {
      const sslmode = await serverOption(supabase, "sslmode");
      await supabase.unsafe("alter server events_ts options (set sslmode 'prefer')");
      return () => supabase.unsafe(`alter server events_ts options (set sslmode '${sslmode}')`);
    },
    detail: /events_ts has sslmode prefer, which allows an unencrypted link/,
    fix: /bridge\.configure\(.*'verify-full'/,
  },
  {
    check: "node index for search",
    apply: async () => {
      const create = schemaSql.match(/create index if not exists events_embedding_hnsw[^;]+;/)![0];
      await timescale.unsafe("drop index public.events_embedding_hnsw");
      return () => timescale.unsafe(create);
    },
    detail: /public\.events .*lacks/,
    fix: /create index/,
  },
  {
    check: "statistics",
    apply: async () => {
      // Local statistics taken when the node held 1% of its rows.
      const [{ reltuples }] = await supabase`
        select reltuples from pg_class where oid = 'bridge.activity_log'::regclass`;
      await supabase`
        update pg_class set reltuples = ${reltuples / 100}
         where oid = 'bridge.activity_log'::regclass`;
      return () =>
        supabase`
          update pg_class set reltuples = ${reltuples} where oid = 'bridge.activity_log'::regclass`;
    },
    detail:
      /bridge\.activity_log on events_ts: local statistics ≈ 200 rows, the node's own ≈ \d{5}/,
    fix:
      /^analyze bridge\.activity_log .*alter foreign table bridge\.activity_log options \(add use_remote_estimate 'true'\)/,
  },
  {
    check: "pushdown mission_activity",
    // The step composes its statements from the export view's names, so the call fails on the
    // node (the foreign table's column options play no part in them).
    apply: async () => {
      await timescale.unsafe("alter view export.activity_log rename column mission_id to gone");
      return () =>
        timescale.unsafe("alter view export.activity_log rename column gone to mission_id");
    },
    detail: /the representative call failed: .*column a\.mission_id does not exist/,
    fix: /see the failed checks above/,
  },
  {
    check: "pushdown event_histogram",
    apply: () => remapColumn("events", "event_time", "event_time_gone"),
    detail: /the representative call failed: column "event_time_gone" does not exist/,
    fix: /see the failed checks above/,
  },
];

for (const { check, apply, detail, fix } of breaks) {
  dbTest(
    `doctor's ${check} fails when broken, with its fix, and passes once repaired`,
    async () => {
      assert.equal((await doctorResult(check)).ok, true, "it passes before the break");
      const repair = await apply();
      try {
        const broken = await doctorResult(check);
        assert.equal(broken.ok, false, `${check} fails: ${broken.detail}`);
        assert.match(broken.detail, detail);
        assert.match(broken.fix ?? "", fix);
      } finally {
        await repair();
      }
      const repaired = await doctorResult(check);
      assert.equal(repaired.ok, true, `${check} passes again: ${repaired.detail}`);
    },
  );
}

/**
 * Points the link at a scratch database of the node, made by `prepare`, for `fn`; then back at
 * the real one, and drops the scratch database.
 */
async function onScratchNode(prepare: string, fn: (node: postgres.Sql) => Promise<void>) {
  const dbname = await serverOption(supabase, "dbname");
  await timescale.unsafe("drop database if exists doctor_scratch");
  await timescale.unsafe("create database doctor_scratch");
  const url = new URL(env("TIMESCALE_DB_URL"));
  url.pathname = "/doctor_scratch";
  const node = postgres(url.href, { max: 1, onnotice: () => {} });
  try {
    await node.unsafe(prepare);
    await supabase.unsafe("alter server events_ts options (set dbname 'doctor_scratch')");
    await fn(node);
  } finally {
    await supabase.unsafe(`alter server events_ts options (set dbname '${dbname}')`);
    await node.end();
    await timescale.unsafe("drop database doctor_scratch with (force)");
  }
}

dbTest(
  "doctor's pgvector fails when the node lacks pgvector, and passes once installed",
  async () => {
    await onScratchNode("create schema extensions", async (node) => {
      const missing = await doctorResult("pgvector");
      assert.equal(missing.ok, false);
      assert.match(missing.detail, /not installed on the node/);
      assert.match(
        missing.fix ?? "",
        /on the node: create extension vector with schema extensions/,
      );
      await node.unsafe("create extension vector with schema extensions");
      assert.equal((await doctorResult("pgvector")).ok, true);
    });
  },
);

dbTest(
  "doctor's pgvector fails when the node's pgvector is older than 0.8, and passes on 0.8",
  async () => {
    await onScratchNode(
      "create schema extensions; create extension vector with schema extensions",
      async (node) => {
        const [{ version }] = await node`
        select extversion as version from pg_extension where extname = 'vector'`;
        // As a node with pgvector 0.7.4 reports itself (no older release is installed here).
        await node`update pg_extension set extversion = '0.7.4' where extname = 'vector'`;
        const older = await doctorResult("pgvector");
        assert.equal(older.ok, false);
        assert.match(older.detail, /node 0\.7\.4 .*needs 0\.8\.0 or later/);
        assert.match(older.fix ?? "", /install pgvector 0\.8 or later/);
        await node`update pg_extension set extversion = ${version} where extname = 'vector'`;
        assert.equal((await doctorResult("pgvector")).ok, true);
      },
    );
  },
);

dbTest(
  "doctor's CLI exits 2 when it cannot run: refused connection, no database, bad option",
  async () => {
    const refused = new URL(env("SUPABASE_DB_URL"));
    // A port nothing listens on: the stack's ports are base + 1, + 2 and + 12.
    refused.port = String(Number(refused.port) + 7);
    const unreachable = await doctorCli("--db-url", refused.href);
    assert.equal(unreachable.code, 2, unreachable.output);
    assert.match(unreachable.output, /cannot connect to the Supabase database: .*ECONNREFUSED/);
    assert.match(unreachable.output, /pass the project's connection string/);

    const none = await doctorCli();
    assert.equal(none.code, 2, none.output);
    assert.match(none.output, /no database given/);

    const badOption = await doctorCli("--db-url", env("SUPABASE_DB_URL"), "--colour");
    assert.equal(badOption.code, 2, badOption.output);
    assert.match(badOption.output, /usage: npm run doctor/);

    const healthy = await doctorCli("--db-url", env("SUPABASE_DB_URL"));
    assert.equal(healthy.code, 0, healthy.output);
  },
);
