/**
 * Tiers by time in operation: a day moved from the hot node to a cold one by the
 * runbook's procedure, read through the bridge before, between and after its steps, and a down
 * node, named in its 503 while calls its slice excludes still answer.
 */
import assert from "node:assert/strict";
import { searchResponse } from "../../functions/_shared/schemas.ts";
import { connect, type Sql, withNodeStopped } from "../support/fixture.ts";
import { assertUnavailable, embedding, invoke, serviceClient } from "../support/functions.ts";
import {
  allData,
  asService,
  attach,
  day,
  daysBefore,
  detachAll,
  expectedSums,
  nodes,
  nodesTest,
  pagedActivity,
  restoreOneNode,
  search,
  seed,
  sqlTime,
  supabase,
  tableSums,
} from "../support/nodes.ts";
import * as oracle from "../support/oracle.ts";

const boundary = daysBefore(12), movedTo = daysBefore(11);
const inMovedDay = (row: Record<string, unknown>) =>
  (row.event_time as Date) >= boundary && (row.event_time as Date) < movedTo;

// What the readers ask, and its answer from the node holding all the data, read before any node
// is attached: searches and a histogram over the moved day and half a day on each side, and the
// whole activity of the missions most active that day.
const around = {
  time_from: new Date(boundary.getTime() - day / 2),
  time_to: new Date(movedTo.getTime() + day / 2),
};
const dayQueries = (await allData`
  select event_embedding::text as embedding from public.events
   where event_time >= ${boundary} and event_time < ${movedTo} and event_embedding is not null
   order by event_time limit 2 offset 10`).map((row) => row.embedding as string);
const dayMissions = (await allData`
  select mission_id::int from public.activity_log
   where event_time >= ${boundary} and event_time < ${movedTo}
   group by 1 order by count(*) desc, 1 limit 6`).map((row) => row.mission_id as number);
const expected = {
  searches: await Promise.all(dayQueries.map((q) => oracle.exactSearch(allData, q, 10, around))),
  histogram: await oracle.exactHistogram(allData, "1 hour", around.time_from, around.time_to),
  activity: await oracle.exactActivity(allData, dayMissions),
};

/** Everything the readers ask, through the bridge on `sql`, as service_role. */
async function read(sql: Sql) {
  return {
    searches: await Promise.all(dayQueries.map((q) => search(q, around, sql))),
    histogram: await asService((tx) =>
      tx`
      select * from public.event_histogram('1 hour', ${around.time_from}, ${around.time_to})`, sql),
    activity: await pagedActivity(7, null, null, sql, dayMissions),
  };
}

nodesTest(
  "moving a day from the hot node to a cold one: no reader sees a row twice or misses one",
  async () => {
    const dayRows = expected.searches.flat().filter(inMovedDay);
    const dayActivity = expected.activity.filter(inMovedDay);
    assert.ok(dayRows.length >= 5, `the searches find ${dayRows.length} events of the moved day`);
    assert.ok(
      new Set(dayActivity.map((row) => row.mission_id)).size >= 3,
      "the activity read holds rows of several missions in the moved day",
    );
    await attach({ name: "cold", node: 2, slice_to: boundary });
    await seed();
    const [hot, cold] = nodes;
    const readers = [connect("supabase"), connect("supabase")];
    // Two readers on connections of their own read everything before the first step and after
    // each one; every answer must be the one of the node holding all the data.
    const readAll = async (stage: string) => {
      const answers = await Promise.all(readers.map(read));
      for (const [reader, answer] of answers.entries()) {
        const where = `reader ${reader + 1}, ${stage}`;
        for (const [i, rows] of answer.searches.entries()) {
          oracle.assertSameRows(rows, expected.searches[i], `search ${i}, ${where}`);
        }
        oracle.assertSameRows(answer.histogram, expected.histogram, `histogram, ${where}`);
        oracle.assertSameRows(answer.activity, expected.activity, `activity, ${where}`);
      }
    };
    const inDay = `where event_time >= $1 and event_time < $2`;
    try {
      await readAll("before the move");
      // The runbook's procedure (docs/operations.md): copy, move the boundary, delete the source.
      for (const table of ["events", "activity_log"]) {
        const [{ rows }] = await hot.unsafe(
          `select coalesce(json_agg(t), '[]') as rows from public.${table} t ${inDay}`,
          [boundary, movedTo],
        );
        const copied = await cold.unsafe(
          `insert into public.${table}
           select * from json_populate_recordset(null::public.${table}, $1::json)
           returning 1`,
          [rows],
        );
        assert.ok(copied.length > 0, `the day has ${table} rows to move`);
        await readAll(`with ${table} copied to the cold node`);
      }
      await supabase`select bridge.move_boundary(${boundary}, ${movedTo})`;
      await readAll("with the boundary moved");
      for (const table of ["events", "activity_log"]) {
        await hot.unsafe(`delete from public.${table} ${inDay}`, [boundary, movedTo]);
        await readAll(`with ${table} deleted from the hot node`);
      }

      const [coldSlice] = await supabase`
        select slice from bridge.node_slices where name = 'cold'`;
      assert.equal(coldSlice.slice, `event_time in [-infinity, ${sqlTime(movedTo)})`);
      const [hotSums, coldSums] = (await Promise.all([hot, cold].map(tableSums)))
        .map(([row]) => row);
      const sum = (key: "events_hash" | "activity_hash") =>
        String(BigInt(hotSums[key]) + BigInt(coldSums[key]));
      assert.deepEqual(
        [
          hotSums.events + coldSums.events,
          sum("events_hash"),
          hotSums.activity + coldSums.activity,
          sum("activity_hash"),
        ],
        [
          expectedSums.events,
          expectedSums.events_hash,
          expectedSums.activity,
          expectedSums.activity_hash,
        ],
        "the two nodes hold every row of the seed once, unchanged",
      );
    } finally {
      await Promise.all(readers.map((reader) => reader.end()));
      await detachAll();
    }
  },
);

nodesTest(
  "a down node is a 503 naming it within 5 s; a call its slice excludes still answers",
  async () => {
    await attach({ name: "cold", node: 2, slice_to: daysBefore(12) });
    await seed();
    try {
      await withNodeStopped(async () => {
        await assertUnavailable(
          serviceClient(),
          "events-search",
          { embedding: embedding(3), k: 5 },
          'the Timescale node "cold" is not answering: try again shortly',
        );

        const recent = await invoke(serviceClient(), "events-search", {
          body: { embedding: embedding(3), k: 5, filters: { from: daysBefore(3).toISOString() } },
        });
        assert.equal(recent.status, 200, JSON.stringify(recent.body));
        assert.equal(searchResponse.parse(recent.body).count, 5);
      }, "timescale-2");
    } finally {
      await detachAll();
    }
  },
);

nodesTest("detaching every node leaves one node holding all the data again", restoreOneNode);
