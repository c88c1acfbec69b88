/**
 * Tiers by time in operation: a day moved from the hot node to a cold one by the
 * runbook's procedure while readers search and page, and a down node, named in its 503 while calls
 * its slice excludes still answer.
 */
import assert from "node:assert/strict";
import { searchResponse } from "../functions/_shared/schemas.ts";
import { stackConfig } from "../scripts/stack/config.ts";
import { startNode, stopNode } from "../scripts/stack/lifecycle.ts";
import { connect } from "./fixture.ts";
import { embedding, errorOf, invoke, serviceClient } from "./functions_fixture.ts";
import {
  activityKey,
  attach,
  daysBefore,
  detachAll,
  expectedActivity,
  expectedSearch,
  expectedSums,
  nodes,
  nodesTest,
  pagedActivity,
  queries,
  restoreOneNode,
  search,
  searchKey,
  seed,
  sqlTime,
  supabase,
  tableSums,
} from "./nodes_fixture.ts";

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

nodesTest("detaching every node leaves one node holding all the data again", restoreOneNode);
