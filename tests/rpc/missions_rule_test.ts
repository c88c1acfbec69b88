/**
 * Who may read a mission is one rule, bridge.readable_mission_ids(), that both the select policy
 * of public.missions and bridge.mission_activity_rows call. The step is a definer that reads the
 * foreign table (foreign tables ignore RLS), so called directly it must show exactly what the
 * policy shows, and follow the rule when the rule changes.
 */
import assert from "node:assert/strict";
import {
  asCaller,
  asCallerIn,
  type Caller,
  connect,
  dbTest,
  seedUserId,
  type Sql,
} from "../support/fixture.ts";

const supabase = connect("supabase");
const timescale = connect("timescale");

/** Mission ids of seeded user `i`, at most `count`. */
async function missionsOf(i: number, count: number): Promise<number[]> {
  const rows = await supabase`
    select id from public.missions where owner = ${seedUserId(i)} order by id limit ${count}`;
  return rows.map((row) => Number(row.id));
}

/** The activity rows of `ids`, newest first, as the definer step returns them, at most 1000. */
const directRows = (tx: Sql, ids: number[]) =>
  tx`
    select mission_id, event_time, agent_id, action, details::text as details
      from bridge.mission_activity_rows(${ids}::bigint[], null, null, null, 1000, null, null)`;

/** The same rows asked of the Timescale node directly, in the bridge's documented order. */
const nodeRows = (ids: number[]) =>
  timescale`
    select mission_id, event_time, agent_id, action, details::text as details
      from public.activity_log
     where mission_id = any(${ids}::bigint[])
     order by event_time desc, mission_id, agent_id, action, details
     limit 1000`;

const plain = (rows: Record<string, unknown>[]) => rows.map((row) => ({ ...row }));

/** One user's ids and another's, interleaved. */
async function mixedIds() {
  const own = await missionsOf(1, 8);
  const others = await missionsOf(2, 8);
  assert.equal(own.length, 8, "user 1 owns missions in the fixture");
  assert.equal(others.length, 8, "user 2 owns missions in the fixture");
  return { own, all: own.flatMap((id, i) => [id, others[i]]) };
}

dbTest(
  "the activity definer step, given own and others' ids, returns only the caller's rows",
  async () => {
    const { own, all } = await mixedIds();
    const caller: Caller = { role: "authenticated", sub: seedUserId(1) };
    const rows = await asCaller(supabase, caller, (tx) => directRows(tx, all));
    const expected = await nodeRows(own);
    assert.ok(expected.length > 0, "the caller's missions have activity");
    assert.deepEqual(plain(rows), plain(expected));
  },
);

dbTest("the activity definer step returns nothing to authenticated without a sub", async () => {
  const { all } = await mixedIds();
  assert.ok((await nodeRows(all)).length > 0, "the missions asked for have activity");
  const rows = await asCaller(supabase, { role: "authenticated" }, (tx) => directRows(tx, all));
  assert.deepEqual(plain(rows), []);
});

dbTest(
  "the activity definer step returns every requested mission's rows to service_role",
  async () => {
    const { all } = await mixedIds();
    const rows = await asCaller(supabase, { role: "service_role" }, (tx) => directRows(tx, all));
    assert.deepEqual(plain(rows), plain(await nodeRows(all)));
  },
);

/** Rolls back whatever `fn` did, after it ran as the database owner and then as `caller`. */
async function inScratchCopy(
  change: string,
  caller: Caller,
  fn: (tx: Sql) => Promise<void>,
): Promise<void> {
  const rolledBack = new Error("scratch copy rolled back");
  await assert.rejects(
    supabase.begin(async (tx) => {
      await tx.unsafe(change);
      await asCallerIn(tx as unknown as Sql, caller);
      await fn(tx as unknown as Sql);
      throw rolledBack;
    }),
    rolledBack,
  );
}

dbTest(
  "changing the rule in a scratch copy changes both what the policy and the activity step show",
  async () => {
    const { own, all } = await mixedIds();
    const others = all.filter((id) => !own.includes(id));
    // A teammate rule: user 1 may also read user 2's missions.
    const teammates = `create or replace function bridge.readable_mission_ids()
      returns setof bigint language sql stable security definer set search_path = '' rows 100
      as $$ select m.id from public.missions m
             where m.owner = (select auth.uid()) or m.owner = '${seedUserId(2)}' $$`;
    const caller: Caller = { role: "authenticated", sub: seedUserId(1) };
    const expected = plain(await nodeRows(all));
    assert.notDeepEqual(expected, plain(await nodeRows(own)), "user 2's missions have activity");

    await inScratchCopy(teammates, caller, async (tx) => {
      const seen = await tx`select id from public.missions where id = any(${others}::bigint[])`;
      assert.deepEqual(seen.map((row) => Number(row.id)).sort(), [...others].sort());
      assert.deepEqual(plain(await directRows(tx, all)), expected);
    });

    // Rolled back: the caller is down to their own missions again.
    const rows = await asCaller(supabase, caller, (tx) => directRows(tx, all));
    assert.deepEqual(plain(rows), plain(await nodeRows(own)));
  },
);
