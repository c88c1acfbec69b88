/**
 * Mission-activity pages never lose or repeat a row, however many rows share a timestamp: for
 * every limit from 1 to 5, 2 × limit + 1 rows at one instant (some of them identical), between
 * a newer and an older row, paged through the Edge Function with nextCursor and through the RPC
 * with before and before_position. Both must give exactly the rows the node holds, every
 * column compared with an exact scan on the node.
 */
import assert from "node:assert/strict";
import type { ActivityResponse } from "../../functions/_shared/schemas.ts";
import { asCaller, connect, dbTest, fixture } from "../support/fixture.ts";
import { activityRows } from "../support/answers.ts";
import { invoke, serviceClient } from "../support/functions.ts";
import * as oracle from "../support/oracle.ts";

const supabase = connect("supabase");
const timescale = connect("timescale");

// After the fixture's data ends, so these rows are the only ones from `from` on.
const from = new Date(fixture.until.getTime() + 3600_000);
const instant = new Date(from.getTime() + 60_000);
const mission = fixture.firstMissionId;
const marker = "tie-test";

/** One row after the instant, 2 × limit + 1 at it (pairs of them identical), one before it. */
async function insertTiedRows(limit: number) {
  await timescale`
    insert into public.activity_log (event_time, agent_id, mission_id, action, details)
    select ${instant}::timestamptz, 4294967296 + n / 2, ${mission}::bigint, ${marker}::text,
           jsonb_build_object('pair', n / 2)
      from generate_series(1, ${2 * limit + 1}) n
    union all
    select ${instant}::timestamptz + interval '1 second', 4294967296, ${mission}, ${marker}, '{}'::jsonb
    union all
    select ${instant}::timestamptz - interval '1 second', 4294967296, ${mission}, ${marker}, '{}'::jsonb`;
}

const removeTiedRows = () => timescale`delete from public.activity_log where action = ${marker}`;

/** The rows as sorted keys of every column the node holds: rows at one instant in any order. */
const sortedKeys = (rows: readonly Record<string, unknown>[]) =>
  rows.map((row) =>
    oracle.rowKey(row, ["mission_id", "event_time", "agent_id", "action", "details"])
  ).sort();

async function pagedByFunction(limit: number): Promise<ActivityResponse["rows"]> {
  const client = serviceClient();
  const rows: ActivityResponse["rows"] = [];
  let before: string | undefined;
  for (let page = 0; page < 50; page++) {
    const answer = await invoke<ActivityResponse>(client, "mission-activity", {
      body: { missionIds: [mission], from: from.toISOString(), limit, before },
    });
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    rows.push(...answer.body.rows);
    if (answer.body.nextCursor === null) return rows;
    assert.equal(answer.body.rows.length, limit, "only the last page is short");
    before = answer.body.nextCursor;
  }
  throw new Error(`no last page after 50 pages of ${limit}`);
}

async function pagedByRpc(limit: number): Promise<Record<string, unknown>[]> {
  const rows: Record<string, unknown>[] = [];
  let before: Date | null = null;
  let position: number | null = null;
  for (let page = 0; page < 50; page++) {
    const found = await asCaller(supabase, { role: "service_role" }, (tx) =>
      tx`
      select * from public.mission_activity(array[${mission}]::bigint[], time_from => ${from},
          max_rows => ${limit}, before => ${before}, before_position => ${position})`);
    rows.push(...found);
    if (found.length < limit) return rows;
    const last = found[found.length - 1];
    [before, position] = [last.event_time, last.tie_position];
  }
  throw new Error(`no last page after 50 pages of ${limit}`);
}

for (let limit = 1; limit <= 5; limit++) {
  dbTest(`${2 * limit + 1} rows at one instant page whole at limit ${limit}`, async () => {
    await insertTiedRows(limit);
    try {
      const onTheNode = await oracle.exactActivity(timescale, [mission], { from });
      assert.equal(onTheNode.length, 2 * limit + 3);
      const expected = sortedKeys(onTheNode);

      const viaFunction = await pagedByFunction(limit);
      assert.deepEqual(sortedKeys(activityRows({ rows: viaFunction })), expected);
      const times = viaFunction.map((row) => Date.parse(row.eventTime));
      assert.deepEqual(times, [...times].sort((a, b) => b - a), "newest first");

      const viaRpc = await pagedByRpc(limit);
      assert.deepEqual(sortedKeys(viaRpc), expected);
      assert.deepEqual(
        viaRpc.filter((row) => (row.event_time as Date).getTime() === instant.getTime())
          .map((row) => row.tie_position),
        Array.from({ length: 2 * limit + 1 }, (_, i) => i + 1),
        "the rows at the instant are numbered 1.. in order",
      );
    } finally {
      await removeTiedRows();
    }
  });
}
