/**
 * data_payload_raw never crosses the link. The seed writes raw payloads holding e-mail addresses
 * (scripts/seed/generate.ts); no foreign table or RPC has the column, no Remote SQL of any RPC
 * names it, and no function answer contains any of those addresses, even for the very events
 * that carry them.
 */
import assert from "node:assert/strict";
import { connect, dbTest, fixture, remoteWorkOf } from "../support/fixture.ts";
import { invoke, serviceClient } from "../support/functions.ts";

const supabase = connect("supabase");
const timescale = connect("timescale");

const emails: string[] = (await timescale`
  select distinct data_payload_raw -> 'contact' ->> 'email' as email from public.events`)
  .map((row) => row.email).filter((email) => email !== null);

// The events whose raw payload holds an address, and their embeddings: searched for, they come
// back first, so the rows that carry the addresses are the ones the answers hold.
const carriers = await timescale`
  select event_embedding::text as embedding, event_type, user_token,
         data_payload_raw -> 'contact' ->> 'email' as email
    from public.events
   where data_payload_raw -> 'contact' ->> 'email' is not null and event_embedding is not null
   order by event_time limit 3`;

const windowEnd = fixture.until.toISOString();
const windowStart = new Date(fixture.until.getTime() - 30 * 86400_000).toISOString();

dbTest("the seeded raw payloads hold e-mail addresses", async () => {
  const [{ events, with_address }] = await timescale`
    select count(*)::int as events,
           count(*) filter (where data_payload_raw -> 'contact' ->> 'email' like '%@%')::int
             as with_address
      from public.events`;
  assert.ok(events > 0 && with_address === events, `${with_address} of ${events} events`);
  assert.ok(emails.length >= 100, `${emails.length} distinct addresses`);
  assert.ok(emails.every((email) => /^[a-z.]+\d+@example\.com$/.test(email)), emails[0]);
  assert.equal(carriers.length, 3);
});

dbTest("no foreign table, view or RPC has a column data_payload_raw", async () => {
  const columns = await supabase`
    select c.oid::regclass::text as relation
      from pg_catalog.pg_attribute a join pg_catalog.pg_class c on c.oid = a.attrelid
     where (c.relkind = 'f'
            or (c.relkind in ('v', 'm')
                and c.relnamespace in ('public'::regnamespace, 'bridge'::regnamespace)))
       and a.attname = 'data_payload_raw' and not a.attisdropped`;
  assert.deepEqual(columns.map((row) => row.relation), [], "relations with data_payload_raw");
  const functions = await supabase`
    select p.oid::regprocedure::text as function
      from pg_catalog.pg_proc p
     where p.pronamespace in ('public'::regnamespace, 'bridge'::regnamespace)
       and ('data_payload_raw' = any(p.proargnames) or p.prosrc like '%data_payload_raw%')`;
  assert.deepEqual(functions.map((row) => row.function), []);
});

const rpcCalls: [string, string, unknown[]][] = [
  ["search_events", "select * from public.search_events($1::extensions.vector, 10)", [
    carriers[0].embedding,
  ]],
  [
    "search_events with every filter",
    `select * from public.search_events($1::extensions.vector, 10, array[$2], $3, null, null,
       null, $4::timestamptz, $5::timestamptz, 2)`,
    [carriers[0].embedding, carriers[0].event_type, carriers[0].user_token, windowStart, windowEnd],
  ],
  [
    "mission_activity",
    "select * from public.mission_activity($1::bigint[], max_rows => 1000)",
    [[12345, fixture.firstMissionId]],
  ],
  [
    "event_histogram",
    "select * from public.event_histogram('1 day', $1::timestamptz, $2::timestamptz)",
    [windowStart, windowEnd],
  ],
  ["bridge_health", "select * from public.bridge_health()", []],
];

for (const [name, statement, params] of rpcCalls) {
  dbTest(`the Remote SQL of ${name} never names data_payload_raw`, async () => {
    const { remoteSql } = await remoteWorkOf(statement, params);
    assert.ok(remoteSql.length > 0, "the call reached the node");
    for (const sent of remoteSql) assert.doesNotMatch(sent, /data_payload_raw/);
  });
}

/** Fails naming the first seeded address found in a function's answer. */
function assertNoAddress(name: string, answer: unknown) {
  const text = JSON.stringify(answer);
  const leaked = emails.find((email) => text.includes(email));
  assert.equal(leaked, undefined, `${name} answered with ${leaked}`);
  assert.doesNotMatch(text, /@example\.com|data_payload_raw/);
}

dbTest("no function answer holds a seeded e-mail address", async () => {
  const client = serviceClient();
  for (const carrier of carriers) {
    const embedding = JSON.parse(carrier.embedding);
    const search = await invoke<{ results: { userToken: string; distance: number }[] }>(
      client,
      "events-search",
      { body: { embedding, k: 100 } },
    );
    assert.equal(search.status, 200);
    // The event whose raw payload holds this address is in the answer, without it.
    assert.ok(search.body.results.some((row) => row.userToken === carrier.user_token));
    assert.ok(search.body.results[0].distance < 1e-6);
    assertNoAddress("events-search", search.body);
  }
  const answers = [
    await invoke(client, "mission-activity", {
      body: { missionIds: [12345, fixture.firstMissionId], limit: 1000 },
    }),
    await invoke(client, "event-histogram", {
      body: { bucket: "1 day", from: windowStart, to: windowEnd },
    }),
    await invoke(client, "bridge-health", { method: "GET" }),
  ];
  for (const answer of answers) {
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assertNoAddress(JSON.stringify(answer.body).slice(0, 40), answer.body);
  }
});
