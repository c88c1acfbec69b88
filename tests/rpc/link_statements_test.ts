/**
 * The activity step's link to the nodes (bridge.ask_nodes, through dblink): what each node
 * receives, read on the node itself, holds every caller value as data, whatever the string;
 * no API role can open or use a link; a link session the node closed, or a node that
 * restarted, is replaced without a failed call; and under load each Supabase backend keeps at
 * most one link session per node, never left in a transaction.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  asCaller,
  connect,
  dbTest,
  env,
  fixture,
  remoteWorkOf,
  withNodeStopped,
} from "../support/fixture.ts";
import { secretKey } from "../support/functions.ts";

const supabase = connect("supabase");
const timescale = connect("timescale");

const missions = [fixture.firstMissionId, fixture.firstMissionId + 1, fixture.firstMissionId + 2];

const activityCall = `select mission_id, event_time, agent_id, action, details
  from public.mission_activity($1::bigint[], actions => $2::text[], max_rows => 1000)`;

/** The node's own answer: the missions' rows with one of `actions`, newest first. */
const nodeRows = (actions: string[]) =>
  timescale`
    select mission_id, event_time, agent_id, action, details from export.activity_log
     where mission_id = any(${missions}::bigint[]) and action = any(${actions}::text[])
     order by event_time desc, mission_id, agent_id, action, details`;

/** The literal the node received for `actions`, as the node itself reads it back. */
async function actionsAsNodeReadsThem(statement: string): Promise<string[]> {
  // format's %L: '...' with quotes doubled, or E'...' when the value holds a backslash.
  const literal = statement.match(/a\.action = any \((E?'(?:[^'\\]|''|\\[\s\S])*')::text\[\]\)/)
    ?.[1];
  assert.ok(literal, `no action filter in what the node received:\n${statement}`);
  const [{ actions }] = await timescale.unsafe(`select ${literal}::text[] as actions`);
  return actions;
}

const hostile = [
  "it's",
  "''; drop table public.activity_log; --",
  "$$; select pg_sleep(10); $$",
  "$x$ or true $x$",
  "back\\slash\\",
  "\\'",
  "/* comment */ scan",
  "scan -- comment",
  "a\nnew line; select 1",
  '"}, {"',
  "{scan,pickup}",
  "NULL",
  "é ß 😀 \u202e",
];

/** Calls as service_role with `actions`; asserts the answer and what the node received. */
async function assertActionsArriveAsData(actions: string[]) {
  const given = ["scan", ...actions];
  const { remoteSql } = await remoteWorkOf(activityCall, [missions, given]);
  assert.equal(remoteSql.length, 1, remoteSql.join("\n"));
  assert.deepEqual(await actionsAsNodeReadsThem(remoteSql[0]), given);
  const rows = await asCaller(
    supabase,
    { role: "service_role" },
    (tx) => tx.unsafe(activityCall, [missions, given] as never[]),
  );
  assert.deepEqual(rows, await nodeRows(given));
}

dbTest("hostile action strings reach the node only as data", async () => {
  await assertActionsArriveAsData(hostile);
});

dbTest("generated action strings reach the node only as data", async () => {
  // Strings mostly of what quoting and array literals treat specially, and any code point.
  const special = fc.constantFrom(
    "'",
    '"',
    "\\",
    "$",
    ";",
    "-",
    "/",
    "*",
    "{",
    "}",
    ",",
    " ",
    "\n",
  );
  const text = fc.oneof(
    fc.string({ unit: special, maxLength: 20 }),
    fc.string({ unit: "binary", maxLength: 20 }).map((s) => s.replaceAll("\0", "")),
  );
  await fc.assert(
    fc.asyncProperty(fc.array(text, { minLength: 1, maxLength: 4 }), assertActionsArriveAsData),
    { numRuns: 40 },
  );
});

for (const role of ["anon", "authenticated", "service_role"] as const) {
  dbTest(`${role} can neither open a link nor ask a node`, async () => {
    for (
      const statement of [
        "select extensions.dblink_connect('mine', 'events_ts')",
        "select * from extensions.dblink('host=127.0.0.1', 'select 1') as t(x int)",
        "select extensions.dblink_get_connections()",
        "select * from bridge.ask_nodes(array['events_ts']::name[], array['select 1'])",
        "select bridge.send_to_node('events_ts', 'select 1')",
        "select bridge.connect_node('events_ts')",
      ]
    ) {
      await assert.rejects(
        asCaller(supabase, { role }, (tx) => tx.unsafe(statement)),
        (error: { code?: string }) => error.code === "42501",
        `${role}: ${statement}`,
      );
    }
  });
}

/** The link sessions on the default node (`node`) that the Supabase backend of `sql` holds. */
async function linkSessions(sql: typeof supabase, node = timescale) {
  const [{ pid }] = await sql`select pg_backend_pid() as pid`;
  return await node`
    select pid from pg_stat_activity where application_name = ${`fdw-bridge ${pid}`}`;
}

const call = (sql: typeof supabase) =>
  sql.begin(async (tx) => {
    await tx`set local role service_role`;
    return await tx.unsafe(activityCall, [missions, ["scan"]] as never[]);
  });

dbTest("a link session the node closed is replaced, and the call answers", async () => {
  const kept = connect("supabase");
  try {
    const expected = await call(kept);
    const [before] = await linkSessions(kept);
    assert.ok(before, "the first call leaves its link session open for the next");
    await timescale`select pg_terminate_backend(${before.pid})`;
    assert.deepEqual(await call(kept), expected);
    const after = await linkSessions(kept);
    assert.equal(after.length, 1);
    assert.notEqual(after[0].pid, before.pid);
  } finally {
    await kept.end();
  }
});

dbTest("a node that restarted between two calls is reconnected without a failed call", async () => {
  const kept = connect("supabase");
  try {
    const expected = await call(kept);
    await withNodeStopped(() => Promise.resolve());
    assert.deepEqual(await call(kept), expected);
    const restarted = connect("timescale");
    assert.equal((await linkSessions(kept, restarted)).length, 1);
    await restarted.end();
  } finally {
    await kept.end();
  }
});

dbTest(
  "32 clients leave one link session per backend and node, none in a transaction",
  async () => {
    const ask = (i: number) =>
      fetch(`${env("SUPABASE_URL")}/functions/v1/mission-activity`, {
        method: "POST",
        headers: { apikey: secretKey(), "Content-Type": "application/json" },
        body: JSON.stringify({ missionIds: [fixture.firstMissionId + (i % 50)], limit: 20 }),
      }).then(async (response) => [response.status, await response.text()] as const);
    const statuses = await Promise.all(
      Array.from({ length: 32 }, async (_, client) => {
        const answers = [];
        for (let i = 0; i < 10; i++) answers.push(await ask(client * 10 + i));
        return answers;
      }),
    );
    for (const [status, text] of statuses.flat()) assert.equal(status, 200, text);

    const backends = (await supabase`select pid from pg_stat_activity`).map((row) => `${row.pid}`);
    const sessions = await timescale`
    select application_name as name, state, count(*)::int as n from pg_stat_activity
     where usename = 'bridge_reader' and application_name not in ('supabase-fdw-bridge', 'postgres.js')
     group by 1, 2`;
    assert.ok(sessions.length > 0, "the calls left their link sessions open for the next");
    for (const { name, state, n } of sessions) {
      assert.equal(n, 1, `${name}: ${n} sessions`);
      assert.notEqual(state, "idle in transaction", name);
      assert.ok(backends.includes(name.split(" ")[1]), `${name} outlived its Supabase backend`);
    }
  },
);
