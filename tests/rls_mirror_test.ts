/**
 * The RLS mirror: bridge.mission_activity_rows, the definer step that reads the foreign table,
 * applies the select policy of public.missions itself (foreign tables ignore RLS, and a definer
 * bypasses it). Called directly it must show exactly what the policy shows, and a catalog check
 * fails the moment the policy and the mirror's copy of it are written differently.
 */
import assert from "node:assert/strict";
import { asCaller, type Caller, connect, dbTest, seedUserId, type Sql } from "./fixture.ts";

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

/** The predicate the mirror applies to public.missions m, read from its source. */
async function mirrorPredicate(): Promise<string> {
  const [step] = await supabase`
    select prosrc from pg_proc where proname = 'mission_activity_rows'
       and pronamespace = 'bridge'::regnamespace`;
  const found = String(step.prosrc).match(
    /from public\.missions m\s+where m\.id = any\(mission_ids\)\s+and \((.+?)\s+or exists/s,
  );
  assert.ok(
    found,
    "bridge.mission_activity_rows filters public.missions m by a copy of the policy",
  );
  return found[1];
}

/**
 * `predicate` on public.missions m as PostgreSQL writes it back, with the operands of a top-level
 * `=` in a fixed order, so `a = b` and `b = a` compare equal.
 */
async function canonical(predicate: string): Promise<string> {
  let written = "";
  await supabase.begin(async (tx) => {
    await tx.unsafe(`create temp view policy_check as
      select m.id from public.missions m where ${predicate}`);
    const [view] = await tx`select pg_get_viewdef('pg_temp.policy_check'::regclass) as def`;
    written = String(view.def).replace(/^[\s\S]*\bWHERE\s+/, "").replace(/;\s*$/, "");
    await tx`drop view pg_temp.policy_check`;
  });
  let inner = written.replace(/^\((.*)\)$/s, "$1");
  let depth = 0;
  for (let i = 0; i < inner.length; i++) {
    if (inner[i] === "(") depth++;
    else if (inner[i] === ")") depth--;
    else if (depth === 0 && inner.startsWith(" = ", i)) {
      inner = [inner.slice(0, i), inner.slice(i + 3)].sort().join(" = ");
      break;
    }
  }
  return inner;
}

dbTest(
  "the mirror in the activity definer step is the missions select policy, written the same",
  async () => {
    const [policy] = await supabase`
    select qual from pg_policies
     where schemaname = 'public' and tablename = 'missions' and cmd = 'SELECT'`;
    assert.ok(policy, "public.missions has a select policy");
    const mirror = await canonical(await mirrorPredicate());
    assert.equal(mirror, await canonical(policy.qual));
    // And the comparison tells a different rule apart.
    assert.notEqual(await canonical("owner is not null or (select auth.uid()) = owner"), mirror);
    assert.notEqual(await canonical("(select auth.uid()) <> owner"), mirror);
  },
);
