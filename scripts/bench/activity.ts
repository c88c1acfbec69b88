/**
 * mission_activity scenarios: the newest 100 activity rows of 1, 10, 100 and 1000 missions,
 * with and without a time window, through public.mission_activity (RLS check, definer step,
 * foreign scan) against the node answering the same question three ways: the statement the
 * bridge sends (the same SQL), and the plans written by hand (nodeActivitySql). The fastest of
 * those on the node is the best plan the bridge is held to.
 */
import { FIRST_MISSION_ID } from "../seed/generate.ts";
import type { Connections } from "./db.ts";
import { interleave, type Measured, summarize, type Variant } from "./measure.ts";
import {
  activityParams,
  type ActivityPlan,
  type ActivityWindow,
  bridgeActivitySql,
  MISSION_RANGES_UP_TO,
  missionIdSets,
  nodeActivitySql,
} from "./queries.ts";
import type { Report } from "./report.ts";

/** Rows asked for: the RPC's default page. */
export const MAX_ROWS = 100;

/** Missions per call in the scenarios. */
export const ACTIVITY_SIZES = [1, 10, 100, 1000];

/** What the activity scenarios need from a run. */
export interface ActivityRun {
  db: Connections;
  report: Report;
  missions: number;
  warmup: number;
  count: number;
  until: Date;
}

const DAY = 24 * 3600 * 1000;

/** The window of the windowed scenarios: a week, ending three days before the data does. */
export const activityWindow = (until: Date): ActivityWindow => ({
  from: new Date(until.getTime() - 10 * DAY).toISOString(),
  to: new Date(until.getTime() - 3 * DAY).toISOString(),
});

interface ActivityRow {
  mission_id: string;
  event_time: Date;
  agent_id: string;
  action: string;
  details: unknown;
}

/** A page's identity: its rows in order, by every column the node returns. */
const pageKey = (rows: readonly ActivityRow[]) =>
  rows.map((r) =>
    `${r.mission_id}|${r.event_time.toISOString()}|${r.agent_id}|${r.action}|` +
    JSON.stringify(r.details)
  ).join("\n");

const NODE_PLANS: ActivityPlan[] = ["event_time", "mission_ranges", "lateral"];

/** The bridge and every node plan for one kind of call; each returns its page's key. */
function activityVariants(db: Connections, window?: ActivityWindow): Variant<string, string>[] {
  return [
    {
      name: "bridge",
      run: async (ids) =>
        pageKey(
          await db.rpc.unsafe(bridgeActivitySql(window), activityParams(ids, MAX_ROWS, window)),
        ),
    },
    ...NODE_PLANS.map((plan) => ({
      name: plan,
      run: async (ids: string) =>
        pageKey(
          await db.direct.unsafe(
            nodeActivitySql(plan, window),
            activityParams(ids, MAX_ROWS, window),
          ),
        ),
    })),
  ];
}

const p50 = (m: Measured<string, string>) => summarize(m.name, m.samples).p50;

/**
 * Runs mission_activity for each size, without and with the window, and records the ratios
 * bridge / same SQL as `ratio_activity_bridge_vs_direct_<n>[_window]` and bridge / best plan as
 * `ratio_activity_bridge_vs_best_<n>[_window]`.
 */
export async function activityScenarios(run: ActivityRun) {
  for (const window of [undefined, activityWindow(run.until)]) {
    for (const size of ACTIVITY_SIZES) {
      const suffix = window ? "_window" : "";
      const id = `activity_${size}${suffix}`;
      const sets = missionIdSets(FIRST_MISSION_ID, run.missions, size, run.warmup + run.count);
      const [bridge, ...plans] = await interleave(
        id,
        activityVariants(run.db, window),
        sets,
        run.warmup,
        run.count,
      );
      const sameSql = plans[size <= MISSION_RANGES_UP_TO ? 1 : 0];
      const differing = plans.map((plan) =>
        [plan.name, plan.results.filter((page, i) => page !== bridge.results[i]).length] as const
      ).filter(([, count]) => count > 0);
      // Only a plan that returned the bridge's rows for every call answers the same question.
      const best = plans.filter((plan) => !differing.some(([name]) => name === plan.name))
        .reduce((a, b) => p50(b) < p50(a) ? b : a);
      const rowsOf = (page: string) => page === "" ? 0 : page.split("\n").length;
      const meanRows = bridge.results.reduce((sum, page) => sum + rowsOf(page), 0) /
        bridge.results.length;
      const b = p50(bridge);
      run.report.scenario(
        id,
        `mission_activity, ${size} mission${size > 1 ? "s" : ""}, newest ${MAX_ROWS} rows` +
          (window ? ", one-week window" : ""),
        [bridge, ...plans].map((m) => summarize(m.name, m.samples)),
        {
          ratios: [
            { label: `bridge / same SQL (${sameSql.name})`, value: b / p50(sameSql) },
            { label: `bridge / best plan (${best.name})`, value: b / p50(best) },
          ],
          note: `${meanRows.toFixed(1)} rows per call; ` +
            (differing.length
              ? differing.map(([name, count]) =>
                `${name} differed from the bridge in ${count} calls`
              )
                .join(", ")
              : "every plan returned the bridge's rows"),
        },
      );
      run.report.metric(`ratio_activity_bridge_vs_direct_${size}${suffix}`, b / p50(sameSql));
      run.report.metric(`ratio_activity_bridge_vs_best_${size}${suffix}`, b / p50(best));
    }
  }
}
