/**
 * Several Timescale nodes: for 1 node, 2 and 3 nodes by time and 3 nodes by site, the
 * nodes are attached, the same seed is split across them, and every RPC must give the answers of
 * one node holding all the data (tests/support/nodes.ts), each node running its own statement
 * (Remote SQL) with its slice, the nodes scanned asynchronously, and only the nodes whose slice can
 * match contacted (pg_stat_statements on the nodes).
 */
import assert from "node:assert/strict";
import { runDoctor } from "../../scripts/doctor/run.ts";
import { scansOfStepPlan } from "../../scripts/plans.ts";
import { env, fixture, remoteWorkOf } from "../support/fixture.ts";
import * as oracle from "../support/oracle.ts";
import {
  activityPlan,
  allData,
  asService,
  attach,
  daysBefore,
  detachAll,
  expectedActivity,
  expectedHistogram,
  expectedInWindow,
  expectedManyMissions,
  expectedSearch,
  expectedSums,
  histogramCalls,
  histogramPlan,
  manyMissions,
  missions,
  nodes,
  type NodeSpec,
  nodesTest,
  pagedActivity,
  queries,
  resetStatements,
  restoreOneNode,
  search,
  searchFilters,
  searchPlan,
  seed,
  sqlTime,
  statementsPerNode,
  supabase,
  tableSums,
  topologies,
} from "../support/nodes.ts";

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
        oracle.assertSameRows(await search(embedding, filters), expected);
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
      oracle.assertSameRows(rows, expectedHistogram.get(name)!);
    });
  }

  await t.step("activity, paged 7 rows at a time through every page", async () => {
    oracle.assertSameRows(await pagedActivity(7), expectedActivity);
  });
  await t.step("activity of 60 missions, newest 300 rows", async () => {
    const rows = await asService((tx) =>
      tx`
      select mission_id, event_time, agent_id, action, details
        from public.mission_activity(${manyMissions}::bigint[], max_rows => 300)`
    );
    oracle.assertSameRows(rows, expectedManyMissions);
  });

  await t.step("activity in a window across tiers, paged 5 at a time", async () => {
    assert.ok(expectedInWindow.length > 5);
    oracle.assertSameRows(await pagedActivity(5, daysBefore(16), daysBefore(4)), expectedInWindow);
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
      for (const sql of paged) assert.match(sql, /a\.mission_id = any \([\s\S]* limit 3\) r$/);
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

    await t.step("search, histogram and activity plans ask the nodes at once", async () => {
      const plans = [await searchPlan(), await histogramPlan()];
      // A list slice on location_key leaves activity_log on the default node alone.
      // A page of 3 rows, so each node is expected to hold more and gets the LIMIT.
      if (specs.every((spec) => !spec.slice_values)) {
        plans.push(await activityPlan(missions, 3), await activityPlan(manyMissions, 3));
      }
      for (const plan of plans) {
        const asked = scansOfStepPlan(plan).filter((scan) => scan.async);
        assert.equal(asked.length, contacted, JSON.stringify(plan));
      }
    });

    await t.step("bridge_health reads every node's statement from the plan", async () => {
      const [health] = await supabase`select * from public.bridge_health()`;
      assert.equal(health.reachable, true, health.problem);
      assert.equal(health.search_pushed_down, true, health.remote_sql);
      assert.equal(health.remote_sql.split("\n").length, contacted, health.remote_sql);
    });

    await t.step("the doctor checks every node, by name, and finds each healthy", async () => {
      const results = await runDoctor(env("SUPABASE_DB_URL"));
      assert.deepEqual(results.filter((r) => !r.ok), []);
      const servers = (await supabase`select server from bridge.nodes order by server`)
        .map((row) => row.server);
      for (const check of ["link", "pushdown search_events", "pushdown event_histogram"]) {
        assert.deepEqual(
          results.filter((r) => r.name.startsWith(`${check} [`)).map((r) => r.name),
          servers.map((server) => `${check} [${server}]`),
        );
      }
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
      oracle.assertSameRows(await search(queries[0], filters), expectedSearch.get(`${name} 0`)!);
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

nodesTest("detaching every node leaves one node holding all the data again", restoreOneNode);
