/**
 * Event scopes: each events RPC answers a signed-in user within the scope public.event_scopes
 * grants them under its RLS, equal to an exact scan on the Timescale node within the scope the
 * test reads from the grants table; no grant, no events; filters cannot reach past the scope;
 * service_role and the open mode are unscoped. Each test grants fresh test users their scopes
 * and removes the grants when it ends.
 */
import assert from "node:assert/strict";
import {
  asCaller,
  bridgeSearch,
  connect,
  dbTest,
  fixture,
  type SearchFilters,
  type Sql,
} from "../support/fixture.ts";
import * as oracle from "../support/oracle.ts";
import { type Scope, withScopedUsers } from "../support/scopes.ts";

const supabase = connect("supabase");
const timescale = connect("timescale");

// Tokens by activity, dealt alternately to two users: disjoint scopes of similar weight.
const tokens = (await timescale`
  select user_token from public.events group by 1 order by count(*) desc, 1 limit 200`)
  .map((row) => row.user_token as string);
const aliceScope = { user_token: tokens.filter((_, i) => i % 2 === 0) };
const bobScope = { user_token: tokens.filter((_, i) => i % 2 === 1) };
const queries = (await timescale`
  select event_embedding::text as embedding from public.events
   order by event_time limit 3 offset 1000`).map((row) => row.embedding as string);
const from = new Date(fixture.until.getTime() - 10 * 86400_000);

const as = (id: string) => ({ role: "authenticated" as const, sub: id });

const histogram = (sql: Sql) =>
  sql`select * from public.event_histogram('1 day', ${from}, ${fixture.until})`;
const exactDays = (grants: oracle.Grant[] | null) =>
  oracle.exactHistogram(timescale, "1 day", from, fixture.until, grants);

/** The caller's search equals the node's exact one within the grants, with k rows. */
async function assertSearchInScope(userId: string, k = 10, f: SearchFilters = {}) {
  const grants = await oracle.grantsOf(supabase, userId);
  for (const embedding of queries) {
    const bridged = await asCaller(
      supabase,
      as(userId),
      (tx) => bridgeSearch(tx, embedding, k, f),
    );
    const expected = await oracle.exactSearch(timescale, embedding, k, f, grants);
    assert.equal(expected.length, k, "the scope holds at least k events");
    oracle.assertSameRows(bridged, expected);
  }
}

/** Runs `fn` with Alice and Bob granted their disjoint scopes, and a user granted nothing. */
const withAliceBobNobody = (fn: (ids: string[]) => Promise<void>) =>
  withScopedUsers(supabase, [aliceScope, bobScope, {}], fn);

dbTest(
  "two users with disjoint scopes each get the node's top-k within their own scope",
  () =>
    withAliceBobNobody(async ([alice, bob]) => {
      await assertSearchInScope(alice);
      await assertSearchInScope(bob);
      const seen = async (id: string) =>
        new Set(
          (await asCaller(supabase, as(id), (tx) => bridgeSearch(tx, queries[0], 50)))
            .map((row) => row.user_token as string),
        );
      const [mine, theirs] = [await seen(alice), await seen(bob)];
      assert.ok([...mine].every((token) => aliceScope.user_token.includes(token)));
      assert.ok([...theirs].every((token) => bobScope.user_token.includes(token)));
    }),
);

dbTest(
  "event_histogram counts only the caller's scope, as the node does",
  () =>
    withAliceBobNobody(async ([alice, bob]) => {
      let total = 0;
      for (const id of [alice, bob]) {
        const bridged = await asCaller(supabase, as(id), histogram);
        const expected = await exactDays(await oracle.grantsOf(supabase, id));
        assert.ok(expected.length > 0, "the scope has events in the range");
        oracle.assertSameRows(bridged, expected);
        total += bridged.reduce((sum, row) => sum + Number(row.events), 0);
      }
      const all = await exactDays(null);
      assert.ok(
        total < all.reduce((sum, row) => sum + Number(row.events), 0),
        "scopes leave out rows",
      );
    }),
);

dbTest("a user with no grant sees no events", () =>
  withAliceBobNobody(async ([, , nobody]) => {
    assert.deepEqual(await oracle.grantsOf(supabase, nobody), []);
    assert.equal(
      (await asCaller(supabase, as(nobody), (tx) => bridgeSearch(tx, queries[0], 10))).length,
      0,
    );
    assert.equal((await asCaller(supabase, as(nobody), histogram)).length, 0);
    const [{ n }] = await asCaller(
      supabase,
      as(nobody),
      (tx) => tx`select count(*)::int as n from bridge.events_in_scope`,
    );
    assert.equal(n, 0);
  }));

dbTest(
  "filtering on another user's token or site finds nothing outside the caller's scope",
  () =>
    withAliceBobNobody(async ([alice]) => {
      const [theirToken] = bobScope.user_token;
      const bySomeoneElse = await asCaller(
        supabase,
        as(alice),
        (tx) => bridgeSearch(tx, queries[0], 10, { user_token: theirToken }),
      );
      assert.equal(bySomeoneElse.length, 0);
      const [{ location_key }] = await timescale`
        select location_key from public.events where user_token = ${theirToken} limit 1`;
      await assertSearchInScope(alice, 10, { location_key });
    }),
);

dbTest("scopes of 1, 100 and 10,000 tokens give the node's answer", async () => {
  const fictitious = Array.from({ length: 9_900 }, (_, i) => `u_not_seeded_${i}`);
  const sizes: [number, string[]][] = [
    [1, tokens.slice(0, 1)],
    [100, tokens.slice(0, 100)],
    [10_000, [...tokens.slice(100, 200), ...fictitious]],
  ];
  for (const [size, userTokens] of sizes) {
    await withScopedUsers(supabase, [{ user_token: userTokens }], async ([id]) => {
      const grants = await oracle.grantsOf(supabase, id);
      assert.equal(grants.length, size, "the grants table holds the whole scope");
      await assertSearchInScope(id, 5);
      const bridged = await asCaller(supabase, as(id), histogram);
      oracle.assertSameRows(bridged, await exactDays(grants), `${size} tokens`);
    });
  }
});

dbTest("grants of agents and of sites scope as grants of tokens do", async () => {
  const [{ agent_key, location_key }] = await timescale`
    select (select agent_key from public.events group by 1 order by count(*) desc limit 1),
           (select location_key from public.events group by 1 order by count(*) desc limit 1)`;
  const scopes: Scope[] = [{ agent_key: [agent_key] }, { location_key: [location_key] }];
  await withScopedUsers(supabase, scopes, async (ids) => {
    for (const id of ids) await assertSearchInScope(id);
  });
});

dbTest("service_role is not scoped", async () => {
  const bridged = await asCaller(
    supabase,
    { role: "service_role" },
    (tx) => bridgeSearch(tx, queries[1], 10),
  );
  oracle.assertSameRows(bridged, await oracle.exactSearch(timescale, queries[1], 10));
});

dbTest(
  "open access shows every signed-in user every event, and scoped access is restored",
  () =>
    withAliceBobNobody(async ([, , nobody]) => {
      const search = () => asCaller(supabase, as(nobody), (tx) => bridgeSearch(tx, queries[2], 10));
      await supabase`update bridge.event_access set mode = 'open'`;
      try {
        const open = await search();
        assert.equal(open.length, 10);
        oracle.assertSameRows(open, await oracle.exactSearch(timescale, queries[2], 10));
      } finally {
        await supabase`update bridge.event_access set mode = 'scoped'`;
      }
      assert.equal((await search()).length, 0);
    }),
);

dbTest("callers cannot widen their scope or open access", async () => {
  const nobody = crypto.randomUUID();
  const attempts = [
    `insert into public.event_scopes (user_id, kind, key) values ('${nobody}', 'user_token', 'x')`,
    `update public.event_scopes set user_id = '${nobody}'`,
    "update bridge.event_access set mode = 'open'",
    "select * from bridge.events limit 1",
  ];
  for (const statement of attempts) {
    await assert.rejects(
      asCaller(supabase, as(nobody), (tx) => tx.unsafe(statement)),
      (error: { code?: string }) => error.code === "42501",
      statement,
    );
  }
});

dbTest(
  "the search's inner step, called directly, sees only the caller's scope",
  () =>
    withAliceBobNobody(async ([alice]) => {
      const direct = await asCaller(supabase, as(alice), (tx) =>
        tx`
      select * from bridge.nearest_events(${queries[0]}::extensions.vector, 10, null, null, null,
        null, null, null, null, null)`);
      const expected = await oracle.exactSearch(
        timescale,
        queries[0],
        10,
        {},
        await oracle.grantsOf(supabase, alice),
      );
      oracle.assertSameRows(direct, expected);
    }),
);

dbTest("the README's team pattern: members see their team's sites", async () => {
  const member = crypto.randomUUID();
  const [{ location_key }] = await timescale`
    select location_key from public.events group by 1 order by count(*) desc limit 1 offset 3`;
  // Rolled back: the pattern's tables, column and policy exist only inside this transaction.
  const rollback = new Error("rollback");
  await assert.rejects(
    supabase.begin(async (tx) => {
      await tx.unsafe(`
        create table public.teams (id bigint primary key);
        create table public.team_members (team_id bigint references public.teams, user_id uuid);
        alter table public.team_members enable row level security;
        create policy "members read their memberships" on public.team_members
          for select to authenticated using ((select auth.uid()) = user_id);
        alter table public.event_scopes add column team_id bigint references public.teams;
        create policy "team members read their team's scopes" on public.event_scopes
          for select to authenticated
          using (team_id in (select m.team_id from public.team_members m
                              where m.user_id = (select auth.uid())));
        grant select on public.team_members to authenticated;
        insert into public.teams values (7);
        insert into public.team_members values (7, '${member}');
        insert into public.event_scopes (team_id, kind, key) values (7, 'location_key', '${location_key}');`);
      const teamGrants = (await tx`select kind, key from public.event_scopes where team_id = 7`)
        .map(({ kind, key }) => ({ kind, key }));
      const caller = JSON.stringify(as(member));
      await tx.unsafe("set local role authenticated");
      await tx`select set_config('request.jwt.claims', ${caller}, true)`;
      const bridged = await bridgeSearch(tx as unknown as Sql, queries[0], 10);
      const expected = await oracle.exactSearch(timescale, queries[0], 10, {}, teamGrants);
      assert.equal(expected.length, 10);
      oracle.assertSameRows(bridged, expected);
      throw rollback;
    }),
    (error) => error === rollback,
  );
});
