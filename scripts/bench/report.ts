/**
 * What a run found, in one place: scenarios with their latency summaries, flat metrics for
 * bench.json (every p50 and p95, the ratios, recall, errors), the goals and whether each is met.
 */
import type { Summary } from "./measure.ts";

/** One scenario's result, or why it did not run. */
export interface Scenario {
  id: string;
  title: string;
  variants: Summary[];
  /** Ratios worth reading beside the latencies, e.g. "bridge / direct 1.08", one a row. */
  ratios?: { label: string; value: number }[];
  note?: string;
}

/** The rows and bytes that crossed the link per call, from its foreign scans' plans. */
export interface LinkTraffic {
  query: string;
  rows: number;
  /** The fetched rows' size in text form, as postgres_fdw receives them (framing aside). */
  bytes: number;
  fetchSize: number;
}

/** One call broken into parts (scripts/bench/parts.ts): medians per part, in ms. */
export interface Breakdown {
  id: string;
  title: string;
  /** The client's median time for the whole call. */
  client: number;
  /** Statements postgres_fdw sent the node per call, each a round trip. */
  roundTrips: number;
  /** Those statements in one call, each with its time on the node. */
  nodeStatements: string[];
  parts: { part: string; ms: number }[];
}

/** One size of a --scale run: p50s in ms through the bridge and on the node, rows fetched. */
export interface GrowthRow {
  events: number;
  activity: number;
  missions: number;
  search: GrowthCell;
  searchWindow: GrowthCell;
  activity10: GrowthCell;
}

/** A scenario at one size: p50 through the bridge, on the node (best plan), rows per call. */
export interface GrowthCell {
  bridge: number;
  node: number;
  rows: number;
}

/** Queries timed on 1, 2 and 3 Timescale nodes holding the same rows (scripts/bench/nodes.ts). */
export interface MultiNode {
  /** Per layout, each node's slice and what it holds. */
  layouts: { nodes: number; holdings: string[] }[];
  /** Per query, one value per layout, in the order of `layouts`. */
  queries: {
    query: string;
    p50: number[];
    p95: number[];
    /** Timed calls that got the same rows as on one node. */
    sameAsOne: number[];
    asked: number[];
    async: number[];
  }[];
}

/** A goal the numbers should reach. */
export interface Goal {
  metric: string;
  label: string;
  target: number;
  /** "max": the value must not exceed the target; "min": it must reach it. */
  kind: "max" | "min";
}

/** The goals, checked against every run. */
export const goals: Goal[] = [
  {
    metric: "ratio_search_bridge_vs_direct",
    label: "search bridge/direct",
    target: 1.25,
    kind: "max",
  },
  { metric: "ratio_naive_vs_bridge", label: "naive/bridge", target: 100, kind: "min" },
  { metric: "recall_at_10", label: "recall@10", target: 0.95, kind: "min" },
  { metric: "recall_at_10_filtered", label: "recall@10 filtered", target: 0.95, kind: "min" },
  ...[1, 10, 100, 1000].flatMap((size) =>
    ["", "_window"].map((window): Goal => ({
      metric: `ratio_activity_bridge_vs_best_${size}${window}`,
      label: `mission_activity (${size}${window ? ", window" : ""}) bridge/best plan`,
      target: 1.5,
      kind: "max",
    }))
  ),
  {
    metric: "ratio_function_vs_rpc_calls_per_second_at_32_clients",
    label: "function/direct rpc calls/s at 32 clients",
    target: 0.8,
    kind: "min",
  },
  { metric: "errors_at_32_clients", label: "errors at 32 clients", target: 0, kind: "max" },
  ...[2, 3].map((nodes): Goal => ({
    metric: `ratio_nodes_search_${nodes}_vs_1`,
    label: `search on ${nodes} nodes/1 node`,
    target: 1.3,
    kind: "max",
  })),
];

/** A goal's outcome: met, missed, or not measured in this run. */
export function goalStatus(goal: Goal, metrics: Record<string, number>) {
  const value = metrics[goal.metric];
  if (value === undefined || Number.isNaN(value)) return "not measured";
  return (goal.kind === "max" ? value <= goal.target : value >= goal.target) ? "met" : "MISSED";
}

const key = (...parts: string[]) => parts.join("_").replace(/[^a-z0-9]+/gi, "_").toLowerCase();

/**
 * Collects a run's results.
 *
 * @example
 * const report = new Report();
 * report.scenario("search", "search k=10", [bridge, direct], { label: "bridge / direct", ... });
 */
export class Report {
  scenarios: Scenario[] = [];
  metrics: Record<string, number> = {};
  traffic: LinkTraffic[] = [];
  breakdowns: Breakdown[] = [];
  growth: GrowthRow[] = [];
  /** Anything a reader must know about how this run went. */
  notes: string[] = [];
  multiNode?: MultiNode;

  /** Adds a scenario, and its p50, p95 (and errors, calls/s when given) to the metrics. */
  scenario(
    id: string,
    title: string,
    variants: Summary[],
    extra: Pick<Scenario, "ratios" | "note"> = {},
  ) {
    this.scenarios.push({ id, title, variants, ...extra });
    for (const v of variants) {
      this.metrics[key(id, v.name, "p50_ms")] = round(v.p50);
      this.metrics[key(id, v.name, "p95_ms")] = round(v.p95);
      if (v.errors !== undefined) this.metrics[key(id, v.name, "errors")] = v.errors;
      if (v.perSecond !== undefined) {
        this.metrics[key(id, v.name, "per_second")] = round(v.perSecond);
      }
    }
  }

  metric(name: string, value: number) {
    this.metrics[name] = round(value);
  }

  /** Adds another report's scenarios, metrics, traffic and notes to this one. */
  merge(other: Report) {
    this.scenarios.push(...other.scenarios);
    Object.assign(this.metrics, other.metrics);
    this.traffic.push(...other.traffic);
    this.breakdowns.push(...other.breakdowns);
    this.notes.push(...other.notes);
    this.multiNode ??= other.multiNode;
  }
}

/** Four significant decimals are plenty for milliseconds and ratios. */
export const round = (x: number) => Math.round(x * 10_000) / 10_000;
