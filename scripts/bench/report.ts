/**
 * What a run found: flat metrics for bench.json (every p50 and p95, the ratios, recall, errors),
 * the scenarios' latencies, and sections (a title, an intro, a table, notes) for the rest; the
 * goals. bench.md shows it all as tables, bench.svg the latencies as bars on a log scale.
 */
import type { Summary } from "./measure.ts";

/** A part of bench.md. Numbers in its rows are formatted alike and right-aligned. */
export interface Section {
  title: string;
  intro?: string;
  header: string[];
  rows: (string | number)[][];
  notes?: string[];
}

/** A ratio read beside the latencies: label, value, and its metric's name if it has one. */
type Ratio = [label: string, value: number, metric?: string];

/** `a` over `b`, by p50 or by calls per second, recorded as `metric` when given. */
export const ratio = (a: Summary, b: Summary, metric?: string, by: "p50" | "perSecond" = "p50") =>
  [`${a.name} / ${b.name} (${by === "p50" ? "p50" : "calls/s"})`, a[by]! / b[by]!, metric] as Ratio;

/** One scenario's variants, timed side by side. */
interface Scenario {
  id: string;
  title: string;
  variants: Summary[];
  ratios: Ratio[];
  note: string;
}

/** A run's results. */
export class Report {
  metrics: Record<string, number> = {};
  scenarios: Scenario[] = [];
  sections: Section[] = [];
  /** Sentences read with the latency table (recall). */
  notes: string[] = [];
  /** What crosses the link per call: query, rows, KiB, fetch_size, FETCH round trips. */
  link: (string | number)[][] = [];

  /** Four significant decimals are plenty for milliseconds and ratios. */
  metric(name: string, value: number) {
    this.metrics[name] = Math.round(value * 10_000) / 10_000;
  }

  /**
   * Adds a scenario, with its variants' summaries only (not what each call returned), and their
   * p50, p95 (errors, calls/s) and its ratios to the metrics.
   */
  scenario(id: string, title: string, measured: Summary[], ratios: Ratio[] = [], note = "") {
    const variants = measured.map(({ name, n, p50, p95, perSecond, errors }) => ({
      name,
      n,
      p50,
      p95,
      perSecond,
      errors,
    }));
    this.scenarios.push({ id, title, variants, ratios, note });
    for (const v of variants) {
      const key = (what: string) =>
        `${id}_${v.name}_${what}`.replace(/[^a-z0-9]+/gi, "_").toLowerCase();
      this.metric(key("p50_ms"), v.p50);
      this.metric(key("p95_ms"), v.p95);
      if (v.errors !== undefined) this.metric(key("errors"), v.errors);
      if (v.perSecond !== undefined) this.metric(key("per_second"), v.perSecond);
    }
    for (const [, value, metric] of ratios) if (metric) this.metric(metric, value);
  }
}

/** A goal: the metric, its label, and a maximum it must not exceed or a minimum it must reach. */
type Goal = [metric: string, label: string, kind: "≤" | "≥", target: number];

/** The bridge's performance goals, checked against every run. */
const goals: Goal[] = [
  ["ratio_search_bridge_vs_direct", "search bridge/direct", "≤", 1.25],
  ["ratio_naive_vs_bridge", "naive/bridge", "≥", 100],
  ["recall_at_10", "recall@10", "≥", 0.95],
  ["recall_at_10_filtered", "recall@10 filtered", "≥", 0.95],
  ...[1, 10, 100, 1000].flatMap((n) =>
    ["", "_window"].map((w): Goal => [
      `ratio_activity_bridge_vs_best_${n}${w}`,
      `mission_activity (${n}${w && ", window"}) bridge/best plan`,
      "≤",
      1.5,
    ])
  ),
  [
    "ratio_function_vs_rpc_calls_per_second_at_32_clients",
    "function/direct rpc calls/s at 32 clients",
    "≥",
    0.8,
  ],
  ["errors_at_32_clients", "errors at 32 clients", "≤", 0],
  ...[2, 3].map((
    n,
  ): Goal => [`ratio_nodes_search_${n}_vs_1`, `search on ${n} nodes/1 node`, "≤", 1.3]),
  ...["search", "activity", "histogram"].map((rpc): Goal => [
    `ratio_stale_statistics_${rpc}`,
    `${rpc}, statistics 100× stale/fresh`,
    "≤",
    1.1,
  ]),
  // Measured with `--rtt` including 20: against one round trip plus the nodes' work.
  ...["search", "histogram", "activity_10"].flatMap((query) =>
    [1, 3].map((n): Goal => [
      `ratio_rtt_20_${query}_${n}_bridge_vs_direct`,
      `${query} at 20 ms RTT on ${n} node${n > 1 ? "s" : ""} bridge/direct`,
      "≤",
      1.25,
    ])
  ),
];

/** Each goal with its value and status: met, MISSED, or not measured in this run. */
export const goalStatus = (metrics: Record<string, number>) =>
  goals.map(([metric, label, kind, target]) => {
    const value = metrics[metric] ?? NaN;
    const met = kind === "≤" ? value <= target : value >= target;
    const status = Number.isNaN(value) ? "not measured" : met ? "met" : "MISSED";
    return { metric, label, target, kind: kind === "≤" ? "max" : "min", value, status };
  });

/**
 * What a quick run's small dataset cannot show; the goals are the full run's. Compared on
 * 25-26 November 2026 (BENCHMARKS.md, "Quick against full"): every other ratio was within 15%.
 */
const QUICK_CAVEATS = `The goals are set for the full dataset (\`npm run bench\`). Most ratios \
here come within 15% of the full run's; these cannot, by the size of the data:

- naive / bridge: the naive search pulls every event, 20,000 here against 100,000;
- mission_activity for 100 missions, with and without the window: here 100 missions are a tenth \
of all, there a hundredth, so the plans read different shares of the rows.`;

/** The goals as a section, with what a quick run cannot show. */
export const goalsSection = (metrics: Record<string, number>, quick: boolean): Section => ({
  title: "Goals",
  intro: quick ? QUICK_CAVEATS : undefined,
  header: ["goal", "target", "value", "status"],
  rows: goalStatus(metrics).map((g) => [
    g.label,
    `${g.kind === "max" ? "≤" : "≥"} ${g.target}`,
    Number.isInteger(g.value) || Number.isNaN(g.value) ? num(g.value) : g.value.toFixed(3),
    g.status,
  ]),
});

/** The rows crossing the link per call, as the scenarios measured them. */
export const linkSection = (report: Report): Section => ({
  title: "Across the link, per call",
  intro: "Mean per call over five calls (one for the naive search): the rows each call's " +
    "Remote SQL (from the plan of the RPC's step; for the naive search, of its statement) returns " +
    "on the node, and their size in text form (how postgres_fdw fetches them).",
  header: ["query", "rows", "KiB", "fetch_size", "FETCH round trips"],
  rows: report.link,
});

/** Milliseconds to three significant digits, integers in full. */
export const num = (x: number) =>
  Number.isNaN(x)
    ? "–"
    : Number.isInteger(x)
    ? x.toLocaleString("en")
    : x.toFixed(x >= 100 ? 0 : x >= 10 ? 1 : 2);

function table({ title, intro, header, rows, notes = [] }: Section): string[] {
  const numeric = (i: number) => rows.length > 0 && rows.every((row) => typeof row[i] === "number");
  const line = (cells: (string | number)[]) =>
    `| ${cells.map((c) => typeof c === "number" ? num(c) : c).join(" | ")} |`;
  return [
    `## ${title}`,
    ...(intro ? ["", intro] : []),
    "",
    line(header),
    line(header.map((_, i) => numeric(i) ? "---:" : "---")),
    ...rows.map(line),
    ...notes.flatMap((note) => ["", note]),
    "",
  ];
}

/** bench.md: the run's context, its headline (goals or growth), latency, the other sections. */
export function markdown(report: Report, heading: string, headline: Section) {
  const latency: Section = {
    title: "Latency (ms)",
    header: ["scenario", "variant", "n", "p50", "p95", "ratio (p50)", "note"],
    rows: report.scenarios.flatMap((s) =>
      s.variants.map((v, i) => [
        i === 0 ? s.title : "",
        v.name,
        v.n,
        v.p50,
        v.p95,
        s.ratios[i] ? `${s.ratios[i][0]}: **${s.ratios[i][1].toFixed(2)}**` : "",
        i === 0 ? s.note : "",
      ])
    ),
    notes: report.notes,
  };
  return [heading, "", ...[headline, latency, ...report.sections].flatMap(table)].join("\n");
}

const escape = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

const COLOURS: Record<string, string> = {
  bridge: "#3b82f6",
  direct: "#10b981",
  naive: "#ef4444",
  function: "#f59e0b",
  rpc: "#3b82f6",
};

/** bench.svg: a bar per variant to p50 and a lighter one on to p95, on a log scale. */
export function latencyChart(scenarios: Scenario[], subtitle: string): string {
  const values = scenarios.flatMap((s) => s.variants.flatMap((v) => [v.p50, v.p95]));
  const low = 10 ** Math.floor(Math.log10(Math.max(Math.min(...values), 1e-3)));
  const high = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const left = 330, plot = 520, top = 56, width = left + plot + 140;
  const x = (ms: number) =>
    left + Math.log10(Math.max(ms, low) / low) / Math.log10(high / low) * plot;
  const text = (at: number, y: number, style: string, content: string, anchor = "start") =>
    `<text x="${at.toFixed(1)}" y="${y}" text-anchor="${anchor}" class="${style}">` +
    `${escape(content)}</text>`;
  const bar = (y: number, ms: number, colour: string, opacity: number) =>
    `<rect x="${left}" y="${y}" width="${(x(ms) - left).toFixed(1)}" height="14" ` +
    `fill="${colour}" fill-opacity="${opacity}"/>`;
  const body: string[] = [];
  let y = top;
  for (const s of scenarios) {
    body.push(text(left - 10, y + s.variants.length * 9 + 2, "label", s.title, "end"));
    for (const v of s.variants) {
      const colour = COLOURS[v.name] ?? "#8b5cf6";
      body.push(
        bar(y, v.p95, colour, 0.3),
        bar(y, v.p50, colour, 1),
        text(left + 4, y + 11, "variant", v.name),
        text(x(v.p95) + 4, y + 11, "value", `${num(v.p50)} / ${num(v.p95)} ms`),
      );
      y += 18;
    }
    y += 12;
  }
  for (let tick = low; tick <= high * 1.0001; tick *= 10) {
    const at = x(tick).toFixed(1);
    body.push(
      `<line x1="${at}" y1="${top - 6}" x2="${at}" y2="${y}" class="grid"/>`,
      text(x(tick), y + 16, "tick", `${num(tick)} ms`, "middle"),
    );
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y + 40}" \
viewBox="0 0 ${width} ${y + 40}" font-family="system-ui, sans-serif">
<style>
  .title { font-size: 16px; font-weight: 600; }
  .subtitle, .tick, .value { font-size: 11px; fill: #555; }
  .label { font-size: 12px; }
  .variant { font-size: 10px; fill: #fff; }
  .grid { stroke: #ddd; stroke-width: 1; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
${text(16, 24, "title", "FDW bridge: latency by scenario (p50 solid, p95 light; log scale)")}
${text(16, 42, "subtitle", subtitle)}
${body.join("\n")}
</svg>
`;
}
