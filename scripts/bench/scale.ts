/**
 * Growth (`npm run bench -- --scale`): the same stack seeded at three sizes in turn, and at
 * each the searches and mission_activity for 10 missions measured against the node, with the
 * rows each call fetches across the link. The scenarios keep their usual ids and titles with the
 * size added, so the latency table and the chart show every size; a growth table sets the p50s
 * and rows of the sizes side by side.
 */
import { activityScenarios } from "./activity.ts";
import { closeConnections, openConnections } from "./db.ts";
import { linkTraffic } from "./link.ts";
import { queryVectors } from "./queries.ts";
import { type GrowthRow, Report } from "./report.ts";
import { compare } from "./search.ts";
import { seedStack, type ThrowawayStack } from "../stack/throwaway.ts";

/** One size: events, with activity rows and missions growing alike. */
export interface Dataset {
  events: number;
  activity: number;
  missions: number;
}

/** The sizes of a --scale run. */
export const SCALES: Dataset[] = [25_000, 100_000, 300_000].map((events) => ({
  events,
  activity: events * 10,
  missions: events / 10,
}));

/** What a scale run needs: the stack, how to seed it, the rounds per scenario. */
export interface ScaleRun {
  stack: ThrowawayStack;
  report: Report;
  seedArgs: (data: Dataset) => string[];
  warmup: number;
  count: number;
  queryVectors: number;
  until: Date;
}

const LINK_QUERIES = ["search", "search_window", "activity_10"];

/** Seeds each size in turn, measures it, and adds its scenarios and a growth row to the report. */
export async function scaleScenarios(run: ScaleRun) {
  for (const data of SCALES) {
    await seedStack(run.stack, run.seedArgs(data));
    const db = await openConnections(run.stack.env);
    const report = new Report();
    try {
      const vectors = await queryVectors(db.timescaleAdmin, run.queryVectors);
      const rounds = { db, report, vectors, warmup: run.warmup, count: run.count };
      const from = new Date(run.until.getTime() - 3 * 24 * 3600 * 1000).toISOString();
      await compare(rounds, "search", "search k=10", {});
      await compare(rounds, "search_window", "search k=10, last 3 days", { from });
      await activityScenarios({
        ...rounds,
        missions: data.missions,
        until: run.until,
        sizes: [10],
        windows: [false],
      });
      await linkTraffic(run.stack.env, db, report, vectors, data.missions, run.until, LINK_QUERIES);
    } finally {
      await closeConnections(db);
    }
    run.report.growth.push(growthRow(data, report));
    run.report.merge(sized(report, data.events));
  }
}

/** The p50s and link rows of one size, from its report. */
function growthRow(data: Dataset, report: Report): GrowthRow {
  const m = report.metrics;
  const rows = (query: string) => report.traffic.find((t) => t.query === query)?.rows ?? NaN;
  return {
    ...data,
    search: { bridge: m.search_bridge_p50_ms, node: m.search_direct_p50_ms, rows: rows("search") },
    searchWindow: {
      bridge: m.search_window_bridge_p50_ms,
      node: m.search_window_direct_p50_ms,
      rows: rows("search_window"),
    },
    activity10: {
      bridge: m.activity_10_bridge_beside_best_p50_ms,
      node: m.activity_10_best_plan_p50_ms,
      rows: rows("activity_10"),
    },
  };
}

/** The report with each scenario, metric and link probe named for its size. */
function sized(report: Report, events: number): Report {
  const label = `${events / 1000}k`;
  const out = new Report();
  out.scenarios = report.scenarios.map((s) => ({
    ...s,
    id: `${s.id}_${label}`,
    title: `${s.title} (${label} events)`,
  }));
  out.metrics = Object.fromEntries(
    Object.entries(report.metrics).map(([name, value]) => [`${name}_${label}`, value]),
  );
  out.traffic = report.traffic.map((t) => ({ ...t, query: `${t.query} (${label})` }));
  return out;
}
