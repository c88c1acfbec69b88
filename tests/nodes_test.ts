/**
 * Several Timescale nodes (issue 13): the test stack runs three, the bridge starts with the first
 * alone. The answers of one node holding all the data are read first, directly on that node by
 * queries of their own; then for 1 node, 2 and 3 nodes by time and 3 nodes by site, the nodes are
 * attached, the same seed is split across them, and every RPC must give those answers, each node
 * running its own statement (Remote SQL), the nodes scanned asynchronously, and only the nodes
 * whose slice can match contacted (pg_stat_statements on the nodes). The last test detaches the
 * nodes and seeds the first node alone again, as the other tests expect.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { locationKey } from "../scripts/seed/generate.ts";
import { repoRoot, stackConfig } from "../scripts/stack/config.ts";
import { startNode, stopNode, timescaleNodeUrl } from "../scripts/stack/lifecycle.ts";
import { searchResponse } from "../functions/_shared/schemas.ts";
import { embedding, errorOf, invoke, serviceClient } from "./functions_fixture.ts";
import { testDatasetSeedArgs } from "./dataset.ts";
import { asCaller, connect, env, fixture, remoteWorkOf, type Sql } from "./fixture.ts";

const supabase = connect("supabase");
const firstPort = Number(env("STACK_TIMESCALE_PORT"));
/** Admin connections to Timescale nodes 1, 2 and 3. */
const nodes = [1, 2, 3].map((i) =>
  postgres(timescaleNodeUrl(env("TIMESCALE_DB_URL"), firstPort + i - 1), {
    max: 1,
    prepare: false,
    onnotice: () => {},
  })
);
const [allData] = nodes;

/** Deno.test with steps, for tests holding database connections. */
function nodesTest(name: string, fn: (t: Deno.TestContext) => Promise<void>) {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

const day = 86400_000;
const daysBefore = (days: number) => new Date(fixture.until.getTime() - days * day);
/** A time as postgres_fdw writes it in Remote SQL, e.g. '2026-10-20 00:00:00+00'. */
const sqlTime = (time: Date) => time.toISOString().replace("T", " ").replace(".000Z", "+00");
const sites = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => locationKey(from + i));

interface NodeSpec {
  name: string;
  /** Which Timescale node of the stack (2 or 3). */
  node: number;
  slice_from?: Date;
  slice_to?: Date;
  slice_values?: string[];
}

const topologies: [string, NodeSpec[]][] = [
  ["1 node", []],
  ["2 nodes by time", [{ name: "cold", node: 2, slice_to: daysBefore(12) }]],
  ["3 nodes by time", [
    { name: "cold", node: 2, slice_from: daysBefore(20), slice_to: daysBefore(8) },
    { name: "colder", node: 3, slice_to: daysBefore(20) },
  ]],
  ["3 nodes by site", [
    { name: "west", node: 2, slice_values: sites(1, 30) },
    { name: "east", node: 3, slice_values: sites(31, 60) },
  ]],
];

async function attach(spec: NodeSpec) {
  await supabase`
    select bridge.attach_node(${spec.name}, '127.0.0.1', ${firstPort + spec.node - 1}, 'postgres',
      'bridge_reader', ${env("BRIDGE_LINK_PASSWORD")}, 'require',
      slice_from => ${spec.slice_from ?? null}::timestamptz,
      slice_to => ${spec.slice_to ?? null}::timestamptz,
      slice_column => ${spec.slice_values ? "location_key" : null}::text,
      slice_values => ${spec.slice_values ?? null}::text[])`;
}

async function detachAll() {
  for (const { name } of await supabase`select name from bridge.nodes where name <> 'default'`) {
    await supabase`select bridge.detach_node(${name})`;
  }
}

/** scripts/seed.ts with the test dataset: it splits the rows by the slices in the catalog. */
async function seed() {
  const { code, stderr } = await new Deno.Command(join(repoRoot, "node_modules", ".bin", "deno"), {
    args: ["run", "-A", "scripts/seed.ts", ...testDatasetSeedArgs],
    cwd: repoRoot,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, `seeding failed: ${new TextDecoder().decode(stderr)}`);
}

// ---- What one node holding all the data answers, read before any node is attached.

const queries: string[] = (await allData`
  select event_embedding::text as embedding from public.events
   order by event_time limit 4 offset 200`).map((row) => row.embedding);
const [{ common_type }] = await allData`
  select event_type as common_type from public.events group by 1 order by count(*) desc limit 1`;

interface SearchFilters {
  event_types?: string[];
  location_key?: string;
  time_from?: Date;
  time_to?: Date;
  max_distance?: number;
}

const searchFilters: [string, SearchFilters][] = [
  ["no filter", {}],
  ["an event type", { event_types: [common_type] }],
  ["a window across tiers", { time_from: daysBefore(15), time_to: daysBefore(5) }],
  ["a window in the newest tier", { time_from: daysBefore(6) }],
  ["a distance bound and a type", { max_distance: 0.5, event_types: [common_type] }],
];

const searchKey = (row: Record<string, unknown>) =>
  `${(row.event_time as Date).toISOString()}|${row.user_token}|` +
  (row.distance as number).toFixed(9);

/** Exact top-k on one node, by a sequential scan: no index, no code of the bridge. */
function exactSearch(embedding: string, f: SearchFilters) {
  return allData.begin(async (tx) => {
    await tx`set local enable_indexscan = off`;
    await tx`set local enable_bitmapscan = off`;
    return (await tx`
      select event_time, user_token,
             event_embedding operator(extensions.<=>) ${embedding}::extensions.vector as distance
        from public.events
       where (${f.event_types ?? null}::text[] is null or event_type = any(${
      f.event_types ?? null
    }))
         and (${f.location_key ?? null}::text is null or location_key = ${f.location_key ?? null})
         and (${f.time_from ?? null}::timestamptz is null or event_time >= ${f.time_from ?? null})
         and (${f.time_to ?? null}::timestamptz is null or event_time < ${f.time_to ?? null})
         and (${f.max_distance ?? null}::float8 is null
              or event_embedding operator(extensions.<=>) ${embedding}::extensions.vector
                 <= ${f.max_distance ?? null})
       order by 3 limit 10`).map(searchKey);
  });
}

const expectedSearch = new Map<string, string[]>();
for (const [name, filters] of searchFilters) {
  for (const [i, embedding] of queries.entries()) {
    expectedSearch.set(`${name} ${i}`, await exactSearch(embedding, filters));
  }
}

const histogramCalls: [string, string, Date, Date, string[] | null][] = [
  ["1 day over the month", "1 day", daysBefore(30), fixture.until, null],
  ["1 hour across a boundary, one type", "1 hour", daysBefore(13), daysBefore(11), [common_type]],
  ["7 days, boundaries inside buckets", "7 days", daysBefore(29), fixture.until, null],
];
const histogramKey = (row: Record<string, unknown>) =>
  `${(row.bucket_start as Date).toISOString()}|${row.event_type}|${row.events}`;
const expectedHistogram = new Map<string, string[]>();
for (const [name, bucket, from, to, types] of histogramCalls) {
  expectedHistogram.set(
    name,
    (await allData`
      select date_bin(${bucket}::interval, event_time, ${from}) as bucket_start, event_type,
             count(*) as events
        from public.events
       where event_time >= ${from} and event_time < ${to}
         and (${types}::text[] is null or event_type = any(${types}))
       group by 1, 2 order by 1, 2`).map(histogramKey),
  );
}

// Missions spread over the seed's month (its missions are numbered in time order), so their
// activity lies on every tier.
const missions = Array.from({ length: 12 }, (_, i) => fixture.firstMissionId + i * 250);
const activityKey = (row: Record<string, unknown>) =>
  `${row.mission_id}|${(row.event_time as Date).toISOString()}|${row.agent_id}|${row.action}|` +
  JSON.stringify(row.details);
/** Every activity row of the missions in the documented order, from the node holding them all. */
const expectedActivity = (await allData`
  select mission_id, event_time, agent_id, action, details from public.activity_log
   where mission_id = any(${missions}::bigint[])
   order by event_time desc, mission_id, agent_id, action, details`).map(activityKey);
const expectedInWindow = (await allData`
  select mission_id, event_time, agent_id, action, details from public.activity_log
   where mission_id = any(${missions}::bigint[])
     and event_time >= ${daysBefore(16)} and event_time < ${daysBefore(4)}
   order by event_time desc, mission_id, agent_id, action, details`).map(activityKey);

/** Count and content of each table, over every node: the same seed must give the same rows. */
async function tableSums(sql: Sql) {
  return await sql`
    select (select count(*) from public.events)::int as events,
           (select coalesce(sum(hashtext(e::text)::bigint), 0) from public.events e)::text
             as events_hash,
           (select count(*) from public.activity_log)::int as activity,
           (select coalesce(sum(hashtext(a::text)::bigint), 0) from public.activity_log a)::text
             as activity_hash`;
}
const expectedSums = (await tableSums(allData))[0];

// ---- The calls through the bridge.

const asService = <T>(fn: (tx: Sql) => Promise<T>, sql = supabase) =>
  asCaller(sql, { role: "service_role" }, fn);

function search(embedding: string, f: SearchFilters, sql = supabase) {
  return asService((tx) =>
    tx`
    select event_time, user_token, distance
      from public.search_events(${embedding}::extensions.vector, 10,
        event_types => ${f.event_types ?? null}::text[],
        location_key => ${f.location_key ?? null}, time_from => ${f.time_from ?? null},
        time_to => ${f.time_to ?? null}, max_distance => ${f.max_distance ?? null})`, sql);
}

/** Every page of the missions' activity, max_rows at a time, following the cursor. */
async function pagedActivity(
  maxRows: number,
  from: Date | null = null,
  to: Date | null = null,
  sql = supabase,
) {
  const rows: Record<string, unknown>[] = [];
  let before: Date | null = null, position: number | null = null;
  for (;;) {
    const page = await asService((tx) =>
      tx`
      select mission_id, event_time, agent_id, action, details, tie_position
        from public.mission_activity(${missions}::bigint[], time_from => ${from}::timestamptz,
          time_to => ${to}::timestamptz, max_rows => ${maxRows}, before => ${before}::timestamptz,
          before_position => ${position}::int)`, sql);
    rows.push(...page);
    if (page.length < maxRows) return rows;
    before = page[page.length - 1].event_time as Date;
    position = page[page.length - 1].tie_position as number;
  }
}

/** The statements each node received whose text reads `relation`, counted per node. */
async function statementsPerNode(relation: string): Promise<number[]> {
  return await Promise.all(nodes.map(async (node) => {
    const [{ calls }] = await node`
      select coalesce(sum(s.calls), 0)::int as calls
        from pg_stat_statements s join pg_roles r on r.oid = s.userid
       where r.rolname = 'bridge_reader' and s.query like ${"%" + relation + "%"}`;
    return calls as number;
  }));
}

async function resetStatements() {
  for (const node of nodes) await node`select pg_stat_statements_reset()`;
}

const searchPlan = async () =>
  (await supabase`
    select plan from bridge.nearest_events(${queries[0]}::extensions.vector, 10, null, null,
      null, null, null, null, null, null, explain_only => true)`)[0].plan;

// ---- The tests.

nodesTest(
  "attach_node and detach_node refuse bad input with 22023 and change nothing",
  async (t) => {
    const catalog = async () =>
      JSON.stringify(await supabase`select * from bridge.node_slices order by name`);
    const before = await catalog();
    const refused = async (call: Promise<unknown>, message: RegExp) =>
      await assert.rejects(call, (error: postgres.PostgresError) => {
        assert.equal(error.code, "22023", error.message);
        assert.match(error.message, message);
        return true;
      });
    const attachWith = (name: string, slice: string) =>
      supabase.unsafe(
        `select bridge.attach_node('${name}', '127.0.0.1', ${firstPort + 1}, 'postgres',
         'bridge_reader', 'x', 'require', ${slice})`,
      );
    await t.step("no slice", () => refused(attachWith("n2", "null"), /needs a slice/));
    await t.step("a bad name", () => refused(attachWith("N-2", "slice_to => now()"), /name must/));
    await t.step(
      "the default's name",
      () => refused(attachWith("default", "slice_to => now()"), /already attached/),
    );
    await t.step("both kinds of slice", () =>
      refused(
        attachWith(
          "n2",
          "slice_to => now(), slice_column => 'location_key', slice_values => '{a}'",
        ),
        /not both/,
      ));
    await t.step("a column events lacks", () =>
      refused(
        attachWith("n2", "slice_column => 'mission_id', slice_values => '{1}'"),
        /text column of bridge.events/,
      ));
    await t.step("an empty range", () =>
      refused(
        attachWith("n2", "slice_from => now(), slice_to => now() - interval '1 day'"),
        /must be before/,
      ));
    await t.step("overlapping and mixed slices", async () => {
      await attach({ name: "cold", node: 2, slice_to: daysBefore(12) });
      try {
        const during = await catalog();
        await refused(
          attachWith("n3", `slice_to => '${daysBefore(20).toISOString()}'`),
          /overlaps the slice of node cold/,
        );
        await refused(
          attachWith("n3", "slice_column => 'location_key', slice_values => '{loc-001}'"),
          /sliced by time/,
        );
        await refused(supabase`select bridge.move_boundary(now(), now())`, /no node's slice/);
        assert.equal(await catalog(), during);
      } finally {
        await detachAll();
      }
    });
    await t.step("detaching an unknown node or the default", async () => {
      await refused(supabase`select bridge.detach_node('nowhere')`, /no node named nowhere/);
      await refused(supabase`select bridge.detach_node('default')`, /cannot be detached/);
    });
    assert.equal(await catalog(), before);
    const [{ relkind }] = await supabase`
    select relkind from pg_class where oid = 'bridge.events'::regclass`;
    assert.equal(relkind, "f", "one node again: bridge.events is the default node's foreign table");
  },
);

nodesTest(
  "attach_node, detach_node and move_boundary are for the owner and service_role",
  async () => {
    for (const role of ["authenticated", "anon"] as const) {
      for (
        const call of [
          "select bridge.attach_node('n2', 'h', 1, 'd', 'u', 'p', slice_to => now())",
          "select bridge.detach_node('n2')",
          "select bridge.move_boundary(now(), now())",
        ]
      ) {
        await assert.rejects(
          asCaller(supabase, { role }, (tx) => tx.unsafe(call)),
          (error: postgres.PostgresError) => error.code === "42501",
          `${role}: ${call}`,
        );
      }
    }
  },
);

for (const [topology, specs] of topologies) {
  nodesTest(`${topology}: every RPC answers as one node holding all the data`, async (t) => {
    if (specs.length > 0) {
      for (const spec of specs) await attach(spec);
      await seed();
    }
    try {
      await checkTopology(t, specs);
    } finally {
      await detachAll();
    }
  });
}

async function checkTopology(t: Deno.TestContext, specs: NodeSpec[]) {
  const contacted = 1 + specs.length;
  const attached = [allData, ...specs.map((spec) => nodes[spec.node - 1])];

  await t.step("the nodes together hold the seed's rows, once each", async () => {
    const perNode = (await Promise.all(attached.map(tableSums))).map(([row]) => row);
    const total = (key: "events" | "activity") => perNode.reduce((sum, row) => sum + row[key], 0);
    const hash = (key: "events_hash" | "activity_hash") =>
      String(perNode.reduce((sum, row) => sum + BigInt(row[key]), 0n));
    assert.deepEqual(
      [total("events"), hash("events_hash"), total("activity"), hash("activity_hash")],
      [
        expectedSums.events,
        expectedSums.events_hash,
        expectedSums.activity,
        expectedSums.activity_hash,
      ],
    );
  });

  for (const [name, filters] of searchFilters) {
    await t.step(`search with ${name}`, async () => {
      for (const [i, embedding] of queries.entries()) {
        const expected = expectedSearch.get(`${name} ${i}`)!;
        assert.ok(expected.length > 0, "the fixture has rows for this filter");
        assert.deepEqual((await search(embedding, filters)).map(searchKey), expected);
      }
    });
  }

  for (const [name, bucket, from, to, types] of histogramCalls) {
    await t.step(`histogram, ${name}`, async () => {
      const rows = await asService((tx) =>
        tx`
          select bucket_start, event_type, events
            from public.event_histogram(${bucket}::interval, ${from}, ${to}, ${types}::text[])`
      );
      assert.deepEqual(rows.map(histogramKey), expectedHistogram.get(name));
    });
  }

  await t.step("activity, paged 7 rows at a time through every page", async () => {
    assert.deepEqual((await pagedActivity(7)).map(activityKey), expectedActivity);
  });
  await t.step("activity in a window across tiers, paged 5 at a time", async () => {
    assert.ok(expectedInWindow.length > 5);
    assert.deepEqual(
      (await pagedActivity(5, daysBefore(16), daysBefore(4))).map(activityKey),
      expectedInWindow,
    );
  });

  await t.step(
    "each node runs its own ORDER BY <=> LIMIT, GROUP BY, and activity page",
    async () => {
      const { remoteSql: searched } = await remoteWorkOf(
        `select * from public.search_events($1::extensions.vector, 10)`,
        [queries[0]],
      );
      assert.equal(searched.length, contacted, searched.join("\n"));
      for (const sql of searched) {
        assert.match(sql, /ORDER BY \(event_embedding OPERATOR\(extensions\.<=>\).* LIMIT 10\b/);
      }
      const { remoteSql: counted } = await remoteWorkOf(
        `select * from public.event_histogram('1 day', $1, $2)`,
        [daysBefore(30), fixture.until],
      );
      assert.equal(counted.length, contacted, counted.join("\n"));
      for (const sql of counted) assert.match(sql, /count\(\*\).* GROUP BY 1, 2/);
      const { remoteSql: paged } = await remoteWorkOf(
        `select * from public.mission_activity($1::bigint[], max_rows => 3)`,
        [missions],
      );
      // A list slice on location_key leaves activity_log on the default node alone.
      const byTime = specs.every((spec) => !spec.slice_values);
      assert.equal(paged.length, byTime ? contacted : 1, paged.join("\n"));
      for (const sql of paged) assert.match(sql, /mission_id = ANY \(.* LIMIT 3::bigint$/);
    },
  );

  if (specs.length > 0) {
    await t.step("each node's statement carries its slice, the default's the rest", async () => {
      const { remoteSql } = await remoteWorkOf(
        `select * from public.search_events($1::extensions.vector, 10)`,
        [queries[0]],
      );
      // The default node's statement holds the others' slices negated, as the node reads them.
      const sliced = remoteSql.filter((sql) =>
        specs.some((spec) =>
          spec.slice_values
            ? ["= ANY", "<> ALL"].some((op) =>
              sql.includes(`location_key ${op} ('{${spec.slice_values!.join(",")}}'::text[])`)
            )
            : [spec.slice_from, spec.slice_to].some((bound) =>
              bound &&
              ["<", ">="].some((op) => sql.includes(`event_time ${op} '${sqlTime(bound)}'`))
            )
        )
      );
      assert.equal(sliced.length, remoteSql.length, remoteSql.join("\n"));
    });

    await t.step("the plan scans the nodes asynchronously", async () => {
      const plan = JSON.stringify(await searchPlan());
      assert.equal(plan.match(/"Async Capable":true/g)?.length, contacted, plan);
    });

    await t.step("bridge_health reads every node's statement from the plan", async () => {
      const [health] = await supabase`select * from public.bridge_health()`;
      assert.equal(health.reachable, true, health.problem);
      assert.equal(health.search_pushed_down, true, health.remote_sql);
      assert.equal(health.remote_sql.split("\n").length, contacted, health.remote_sql);
    });

    await t.step("a refresh keeps the nodes' layout and answers", async () => {
      const changes = await supabase`select * from bridge.refresh_foreign_tables()`;
      assert.deepEqual(
        changes.map((row) => `${row.foreign_table}: ${row.change}`).sort(),
        ["bridge.activity_log: unchanged", "bridge.events: unchanged"],
      );
      const partitions = await supabase`
        select count(*)::int as n from pg_inherits where inhparent = 'bridge.events'::regclass`;
      assert.equal(partitions[0].n, contacted);
      const [name, filters] = searchFilters[0];
      assert.deepEqual(
        (await search(queries[0], filters)).map(searchKey),
        expectedSearch.get(`${name} 0`),
      );
    });

    await t.step("only the nodes whose slice can match are contacted", async () => {
      const [first] = specs;
      const call = first.slice_values
        ? { location_key: first.slice_values[0] }
        : { time_from: daysBefore(3) };
      await resetStatements();
      await search(queries[0], call);
      const calls = await statementsPerNode("export.events");
      const asked = first.slice_values ? first.node : 1;
      assert.deepEqual(
        calls.map((n) => n > 0),
        [1, 2, 3].map((node) => node === asked),
        `statements on nodes 1, 2, 3: ${calls}`,
      );
    });
  }
}

nodesTest(
  "moving a day from the hot node to a cold one: no reader sees a row twice or misses one",
  async () => {
    const boundary = daysBefore(12), movedTo = daysBefore(11);
    await attach({ name: "cold", node: 2, slice_to: boundary });
    await seed();
    const [hot, cold] = nodes;
    const pause = () => new Promise((resolve) => setTimeout(resolve, 200));
    let moving = true;
    // Readers on connections of their own search and page through activity, again and again,
    // while the day moves; every answer must be the one of a node holding all the data.
    const reader = async () => {
      const sql = connect("supabase");
      let rounds = 0;
      try {
        while (moving || rounds < 2) {
          assert.deepEqual(
            (await search(queries[0], {}, sql)).map(searchKey),
            expectedSearch.get("no filter 0"),
          );
          assert.deepEqual(
            (await pagedActivity(7, null, null, sql)).map(activityKey),
            expectedActivity,
          );
          rounds++;
        }
      } finally {
        await sql.end();
      }
      return rounds;
    };
    // The runbook's procedure (docs/operations.md): copy, move the boundary, delete the source.
    const move = async () => {
      try {
        for (const table of ["events", "activity_log"]) {
          const [{ rows }] = await hot.unsafe(
            `select coalesce(json_agg(t), '[]') as rows from public.${table} t
              where event_time >= $1 and event_time < $2`,
            [boundary, movedTo],
          );
          const copied = await cold.unsafe(
            `insert into public.${table}
             select * from json_populate_recordset(null::public.${table}, $1::json)
             returning 1`,
            [rows],
          );
          assert.ok(copied.length > 0, `the day has ${table} rows to move`);
          await pause();
        }
        await supabase`select bridge.move_boundary(${boundary}, ${movedTo})`;
        await pause();
        for (const table of ["events", "activity_log"]) {
          await hot.unsafe(
            `delete from public.${table} where event_time >= $1 and event_time < $2`,
            [boundary, movedTo],
          );
          await pause();
        }
      } finally {
        moving = false;
      }
    };
    try {
      const [, ...rounds] = await Promise.all([move(), reader(), reader()]);
      assert.ok(rounds.every((n) => n >= 2), `reader rounds: ${rounds}`);
      const [coldSlice] = await supabase`
        select slice from bridge.node_slices where name = 'cold'`;
      assert.equal(coldSlice.slice, `event_time in [-infinity, ${sqlTime(movedTo)})`);
      const [hotSums, coldSums] = (await Promise.all([hot, cold].map(tableSums)))
        .map(([row]) => row);
      assert.deepEqual(
        [hotSums.events + coldSums.events, hotSums.activity + coldSums.activity],
        [expectedSums.events, expectedSums.activity],
        "no row lost or left twice",
      );
    } finally {
      await detachAll();
    }
  },
);

nodesTest(
  "a down node is a 503 naming it within 5 s; a call its slice excludes still answers",
  async () => {
    await attach({ name: "cold", node: 2, slice_to: daysBefore(12) });
    await seed();
    await stopNode(stackConfig(), "timescale-2");
    try {
      const started = performance.now();
      const down = await invoke(serviceClient(), "events-search", {
        body: { embedding: embedding(3), k: 5 },
      });
      const elapsed = performance.now() - started;
      assert.equal(down.status, 503, JSON.stringify(down.body));
      assert.deepEqual(errorOf(down), {
        code: "unavailable",
        message: 'the Timescale node "cold" is not answering: try again shortly',
      });
      assert.ok(elapsed < 5000, `the 503 took ${Math.round(elapsed)} ms`);

      const recent = await invoke(serviceClient(), "events-search", {
        body: { embedding: embedding(3), k: 5, filters: { from: daysBefore(3).toISOString() } },
      });
      assert.equal(recent.status, 200, JSON.stringify(recent.body));
      assert.equal(searchResponse.parse(recent.body).count, 5);
    } finally {
      await startNode(stackConfig(), "timescale-2");
      await detachAll();
    }
  },
);

nodesTest("detaching every node leaves one node holding all the data again", async () => {
  await detachAll();
  await seed();
  const [{ relkind }] = await supabase`
    select relkind from pg_class where oid = 'bridge.events'::regclass`;
  assert.equal(relkind, "f");
  assert.deepEqual((await tableSums(allData))[0], expectedSums);
  // The other nodes' rows are no longer read: clear them, as the stack started.
  for (const node of nodes.slice(1)) await node`truncate public.events, public.activity_log`;
  for (const node of nodes) await node.end();
  await supabase.end();
});
