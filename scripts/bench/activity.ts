/**
 * mission_activity scenarios: the newest 100 activity rows of 1, 10 and 100 missions through
 * public.mission_activity (RLS check, definer step, foreign scan) against the statement the
 * bridge sends, run directly on the Timescale node.
 */
import { FIRST_MISSION_ID } from "../seed/generate.ts";
import type { Connections } from "./db.ts";
import { interleave, summarize, type Variant } from "./measure.ts";
import { bridgeActivitySql, directActivitySql, missionIdSets } from "./queries.ts";
import type { Report } from "./report.ts";

/** Rows asked for: the RPC's default page. */
export const MAX_ROWS = 100;

/** What the activity scenarios need from a run. */
export interface ActivityRun {
  db: Connections;
  report: Report;
  missions: number;
  warmup: number;
  count: number;
}

/** Both variants of a mission_activity call; each returns its row count. */
export function activityVariants(db: Connections): Variant<string, number>[] {
  return [
    {
      name: "bridge",
      run: async (ids) => (await db.rpc.unsafe(bridgeActivitySql, [ids, MAX_ROWS])).length,
    },
    {
      name: "direct",
      run: async (ids) => (await db.direct.unsafe(directActivitySql, [ids, MAX_ROWS])).length,
    },
  ];
}

/**
 * Runs mission_activity for 1, 10 and 100 missions per call and records each, with the ratio
 * bridge / direct as `ratio_activity_bridge_vs_direct_<n>`.
 */
export async function activityScenarios(run: ActivityRun) {
  for (const size of [1, 10, 100]) {
    const id = `activity_${size}`;
    const sets = missionIdSets(FIRST_MISSION_ID, run.missions, size, run.warmup + run.count);
    const [bridge, direct] = await interleave(
      id,
      activityVariants(run.db),
      sets,
      run.warmup,
      run.count,
    );
    const [b, d] = [summarize("bridge", bridge.samples), summarize("direct", direct.samples)];
    const mismatched = bridge.results.filter((rows, i) => rows !== direct.results[i]).length;
    const meanRows = bridge.results.reduce((sum, rows) => sum + rows, 0) / bridge.results.length;
    run.report.scenario(
      id,
      `mission_activity, ${size} mission${size > 1 ? "s" : ""}, newest ${MAX_ROWS} rows`,
      [b, d],
      {
        ratio: { label: "bridge / direct (p50)", value: b.p50 / d.p50 },
        note: `${meanRows.toFixed(1)} rows per call` +
          (mismatched ? `; ${mismatched} calls returned a different row count` : ""),
      },
    );
    run.report.metric(`ratio_activity_bridge_vs_direct_${size}`, b.p50 / d.p50);
  }
}
