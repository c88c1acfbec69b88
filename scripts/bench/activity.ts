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
  /** Missions per call to run; default {@link ACTIVITY_SIZES}. */
  sizes?: number[];
  /** Run without the window, with it, or both (the default). */
  windows?: boolean[];
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

/** The bridge, or one node plan, for one kind of call; each returns its page's key. */
function activityVariant(
  db: Connections,
  plan: ActivityPlan | "bridge",
  window?: ActivityWindow,
): Variant<string, string> {
  const params = (ids: string) => activityParams(ids, MAX_ROWS, window);
  return plan === "bridge"
    ? {
      name: "bridge",
      run: async (ids) => pageKey(await db.rpc.unsafe(bridgeActivitySql(window), params(ids))),
    }
    : {
      name: plan,
      run: async (ids) =>
        pageKey(await db.direct.unsafe(nodeActivitySql(plan, window), params(ids))),
    };
}

const p50 = (m: Measured<string, string>) => summarize(m.name, m.samples).p50;

/**
 * Runs mission_activity for each size, without and with the window. The bridge is timed beside
 * each node plan in turn, in pairs: interleaved with all of them at once, the slowest plan (the
 * event_time walk reads ~100,000 rows) slowed the calls after it, the bridge's most. Records
 * bridge / same SQL as `ratio_activity_bridge_vs_direct_<n>[_window]` and bridge / best plan as
 * `ratio_activity_bridge_vs_best_<n>[_window]`, each from its own pair.
 */
export async function activityScenarios(run: ActivityRun) {
  for (const windowed of run.windows ?? [false, true]) {
    const window = windowed ? activityWindow(run.until) : undefined;
    for (const size of run.sizes ?? ACTIVITY_SIZES) {
      const suffix = window ? "_window" : "";
      const id = `activity_${size}${suffix}`;
      const sets = missionIdSets(FIRST_MISSION_ID, run.missions, size, run.warmup + run.count);
      const pairs = [];
      for (const plan of NODE_PLANS) {
        const [bridge, node] = await interleave(
          `${id}, beside ${plan}`,
          [activityVariant(run.db, "bridge", window), activityVariant(run.db, plan, window)],
          sets,
          run.warmup,
          run.count,
        );
        const differing = node.results.filter((page, i) => page !== bridge.results[i]).length;
        pairs.push({ plan, bridge, node, ratio: p50(bridge) / p50(node), differing });
      }
      const sameSql = pairs[size <= MISSION_RANGES_UP_TO ? 1 : 0];
      // The fastest plan on the node; only one that returned the bridge's rows for every call
      // answers the same question.
      const best = pairs.filter((pair) => pair.differing === 0)
        .reduce((a, b) => p50(b.node) < p50(a.node) ? b : a);
      const rowsOf = (page: string) => page === "" ? 0 : page.split("\n").length;
      const pages = pairs[0].bridge.results;
      const meanRows = pages.reduce((sum, page) => sum + rowsOf(page), 0) / pages.length;
      const differing = pairs.filter((pair) => pair.differing > 0);
      run.report.scenario(
        id,
        `mission_activity, ${size} mission${size > 1 ? "s" : ""}, newest ${MAX_ROWS} rows` +
          (window ? ", one-week window" : ""),
        pairs.flatMap((pair) => [
          summarize(`bridge beside ${pair.plan}`, pair.bridge.samples),
          summarize(pair.plan, pair.node.samples),
        ]),
        {
          ratios: [
            { label: `bridge / same SQL (${sameSql.plan})`, value: sameSql.ratio },
            { label: `bridge / best plan (${best.plan})`, value: best.ratio },
          ],
          note: `${meanRows.toFixed(1)} rows per call; bridge / plan, each pair side by side: ` +
            pairs.map((pair) => `${pair.plan} ${pair.ratio.toFixed(2)}`).join(", ") + "; " +
            (differing.length
              ? differing.map((pair) =>
                `${pair.plan} differed from the bridge in ${pair.differing} calls`
              )
                .join(", ")
              : "every plan returned the bridge's rows"),
        },
      );
      run.report.metric(`ratio_activity_bridge_vs_direct_${size}${suffix}`, sameSql.ratio);
      run.report.metric(`ratio_activity_bridge_vs_best_${size}${suffix}`, best.ratio);
      run.report.metric(`${id}_bridge_beside_best_p50_ms`, p50(best.bridge));
      run.report.metric(`${id}_best_plan_p50_ms`, p50(best.node));
    }
  }
}
