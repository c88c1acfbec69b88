/**
 * Event scopes: each events RPC answers a signed-in user within the scope public.event_scopes
 * grants them under its RLS, equal to the same question asked on the Timescale node with the
 * scope written out; no grant, no events; filters cannot reach past the scope; service_role and
 * the open mode are unscoped. Grants are made for fresh test users and removed at the end.
 */
import assert from "node:assert/strict";
import {
  asCaller,
  connect,
  dbTest,
  fixture,
  searchViaBridge,
  type Sql,
} from "../support/fixture.ts";
import {
  grantScope,
  histogramKey,
  nodeHistogram,
  nodeSearch,
  revokeScopes,
  type Scope,
  searchKey,
} from "../support/scope_fixture.ts";

const supabase = connect("supabase");
const reader = connect("reader");
const timescale = connect("timescale");

// Tokens by activity, dealt alternately to two users: disjoint scopes of similar weight.
const tokens = (await timescale`
  select user_token from public.events group by 1 order by count(*) desc, 1 limit 200`)
  .map((row) => row.user_token as string);
const alice = {
  id: crypto.randomUUID(),
  scope: { user_token: tokens.filter((_, i) => i % 2 === 0) },
};
const bob = {
  id: crypto.randomUUID(),
  scope: { user_token: tokens.filter((_, i) => i % 2 === 1) },
};
const nobody = crypto.randomUUID();
const queries = (await timescale`
  select event_embedding::text as embedding from public.events
   order by event_time limit 3 offset 1000`).map((row) => row.embedding as string);
const from = new Date(fixture.until.getTime() - 10 * 86400_000);

await revokeScopes(supabase, [alice.id, bob.id, nobody]);
await grantScope(supabase, alice.id, alice.scope);
await grantScope(supabase, bob.id, bob.scope);

const as = (id: string) => ({ role: "authenticated" as const, sub: id });

const histogram = (sql: Sql) =>
  sql`select * from public.event_histogram('1 day', ${from}, ${fixture.until})`;

/** The caller's search equals the node's within `scope`, and k rows came back when it has them. */
async function assertSearchInScope(userId: string, scope: Scope, k = 10) {
  for (const embedding of queries) {
    const bridged = await asCaller(supabase, as(userId), (tx) => searchViaBridge(tx, embedding, k));
    const expected = await nodeSearch(reader, embedding, k, scope);
    assert.equal(expected.length, k, "the scope holds at least k events");
    assert.deepEqual(bridged.map(searchKey), expected.map(searchKey));
  }
}

dbTest(
  "two users with disjoint scopes each get the node's top-k within their own scope",
  async () => {
    await assertSearchInScope(alice.id, alice.scope);
    await assertSearchInScope(bob.id, bob.scope);
    const seen = async (id: string) =>
      new Set(
        (await asCaller(supabase, as(id), (tx) => searchViaBridge(tx, queries[0], 50)))
          .map((row) => row.user_token as string),
      );
    const [mine, theirs] = [await seen(alice.id), await seen(bob.id)];
    assert.ok([...mine].every((token) => alice.scope.user_token.includes(token)));
    assert.ok([...theirs].every((token) => bob.scope.user_token.includes(token)));
  },
);

dbTest("event_histogram counts only the caller's scope, as the node does", async () => {
  let total = 0;
  for (const user of [alice, bob]) {
    const bridged = await asCaller(supabase, as(user.id), histogram);
    const expected = await nodeHistogram(reader, "1 day", from, fixture.until, user.scope);
    assert.ok(expected.length > 0);
    assert.deepEqual(bridged.map(histogramKey), expected.map(histogramKey));
    total += bridged.reduce((sum, row) => sum + Number(row.events), 0);
  }
  const all = await asCaller(supabase, { role: "service_role" }, histogram);
  assert.ok(total < all.reduce((sum, row) => sum + Number(row.events), 0), "scopes leave out rows");
});

dbTest("a user with no grant sees no events", async () => {
  assert.equal(
    (await asCaller(supabase, as(nobody), (tx) => searchViaBridge(tx, queries[0], 10))).length,
    0,
  );
  assert.equal((await asCaller(supabase, as(nobody), histogram)).length, 0);
  const [{ n }] = await asCaller(
    supabase,
    as(nobody),
    (tx) => tx`select count(*)::int as n from bridge.events_in_scope`,
  );
  assert.equal(n, 0);
});

dbTest(
  "filtering on another user's token or site finds nothing outside the caller's scope",
  async () => {
    const [theirToken] = bob.scope.user_token;
    const bySomeoneElse = await asCaller(
      supabase,
      as(alice.id),
      (tx) => searchViaBridge(tx, queries[0], 10, { user_token: theirToken }),
    );
    assert.equal(bySomeoneElse.length, 0);
    const [{ location_key }] = await timescale`
    select location_key from public.events where user_token = ${theirToken} limit 1`;
    const atTheirSite = await asCaller(
      supabase,
      as(alice.id),
      (tx) => searchViaBridge(tx, queries[0], 10, { location_key }),
    );
    const expected = await nodeSearch(reader, queries[0], 10, alice.scope, { location_key });
    assert.deepEqual(atTheirSite.map(searchKey), expected.map(searchKey));
    assert.ok(atTheirSite.every((row) => alice.scope.user_token.includes(row.user_token)));
  },
);

dbTest("scopes of 1, 100 and 10,000 tokens give the node's answer", async () => {
  const fictitious = Array.from({ length: 9_900 }, (_, i) => `u_not_seeded_${i}`);
  const sizes: [string, string[]][] = [
    ["1", tokens.slice(0, 1)],
    ["100", tokens.slice(0, 100)],
    ["10,000", [...tokens.slice(100, 200), ...fictitious]],
  ];
  for (const [size, userTokens] of sizes) {
    const id = crypto.randomUUID();
    const scope = { user_token: userTokens };
    await grantScope(supabase, id, scope);
    try {
      assert.equal(userTokens.length, Number(size.replace(",", "")));
      await assertSearchInScope(id, scope, 5);
      const bridged = await asCaller(supabase, as(id), histogram);
      const expected = await nodeHistogram(reader, "1 day", from, fixture.until, scope);
      assert.deepEqual(bridged.map(histogramKey), expected.map(histogramKey), `${size} tokens`);
    } finally {
      await revokeScopes(supabase, [id]);
    }
  }
});

dbTest("grants of agents and of sites scope as grants of tokens do", async () => {
  const [{ agent_key, location_key }] = await timescale`
    select (select agent_key from public.events group by 1 order by count(*) desc limit 1),
           (select location_key from public.events group by 1 order by count(*) desc limit 1)`;
  for (const scope of [{ agent_key: [agent_key] }, { location_key: [location_key] }]) {
    const id = crypto.randomUUID();
    await grantScope(supabase, id, scope);
    try {
      await assertSearchInScope(id, scope);
    } finally {
      await revokeScopes(supabase, [id]);
    }
  }
});

dbTest("service_role is not scoped", async () => {
  const bridged = await asCaller(
    supabase,
    { role: "service_role" },
    (tx) => searchViaBridge(tx, queries[1], 10),
  );
  const expected = await reader`
    select event_time, user_token, location_key,
           event_embedding operator(extensions.<=>) ${queries[1]}::extensions.vector as distance
      from export.events where event_embedding is not null
     order by event_embedding operator(extensions.<=>) ${queries[1]}::extensions.vector limit 10`;
  assert.deepEqual(bridged.map(searchKey), expected.map(searchKey));
});

dbTest(
  "open access shows every signed-in user every event, and scoped access is restored",
  async () => {
    const unscoped = await asCaller(
      supabase,
      { role: "service_role" },
      (tx) => searchViaBridge(tx, queries[2], 10),
    );
    await supabase`update bridge.event_access set mode = 'open'`;
    try {
      const open = await asCaller(
        supabase,
        as(nobody),
        (tx) => searchViaBridge(tx, queries[2], 10),
      );
      assert.equal(open.length, 10);
      assert.deepEqual(open.map(searchKey), unscoped.map(searchKey));
    } finally {
      await supabase`update bridge.event_access set mode = 'scoped'`;
    }
    const scoped = await asCaller(
      supabase,
      as(nobody),
      (tx) => searchViaBridge(tx, queries[2], 10),
    );
    assert.equal(scoped.length, 0);
  },
);

dbTest("callers cannot widen their scope or open access", async () => {
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

dbTest("the search's inner step, called directly, sees only the caller's scope", async () => {
  const direct = await asCaller(supabase, as(alice.id), (tx) =>
    tx`
    select event_time, user_token, location_key, distance
      from bridge.nearest_events(${queries[0]}::extensions.vector, 10, null, null, null, null,
        null, null, null, null)`);
  const expected = await nodeSearch(reader, queries[0], 10, alice.scope);
  assert.deepEqual(direct.map(searchKey), expected.map(searchKey));
});

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
      const caller = JSON.stringify(as(member));
      await tx.unsafe("set local role authenticated");
      await tx`select set_config('request.jwt.claims', ${caller}, true)`;
      const bridged = await searchViaBridge(tx as unknown as Sql, queries[0], 10);
      const expected = await nodeSearch(reader, queries[0], 10, { location_key: [location_key] });
      assert.equal(expected.length, 10);
      assert.deepEqual(bridged.map(searchKey), expected.map(searchKey));
      throw rollback;
    }),
    (error) => error === rollback,
  );
});

dbTest("the test users' grants are removed afterwards", async () => {
  await revokeScopes(supabase, [alice.id, bob.id, nobody]);
  const [{ n }] = await supabase`
    select count(*)::int as n from public.event_scopes
     where user_id = any(${[alice.id, bob.id, nobody]}::uuid[])`;
  assert.equal(n, 0);
});
