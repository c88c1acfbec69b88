/**
 * bench.svg: latency by scenario as horizontal bars on a log scale (the naive search is three
 * orders of magnitude slower than the rest), a solid bar to p50 and a lighter one on to p95.
 */
import type { Scenario } from "./report.ts";

const COLOURS: Record<string, string> = {
  bridge: "#3b82f6",
  direct: "#10b981",
  naive: "#ef4444",
  function: "#f59e0b",
  rpc: "#3b82f6",
};
const CLIENTS_COLOUR = "#8b5cf6";

const escape = (text: string) =>
  text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

const formatMs = (ms: number) =>
  ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);

/**
 * The chart of every scenario that ran, as an SVG document.
 *
 * @example
 * Deno.writeTextFileSync("bench.svg", latencyChart(report.scenarios, "full run"));
 */
export function latencyChart(scenarios: readonly Scenario[], subtitle: string): string {
  const ran = scenarios.filter((s) => s.variants.length > 0);
  const values = ran.flatMap((s) => s.variants.flatMap((v) => [v.p50, v.p95]));
  const low = 10 ** Math.floor(Math.log10(Math.max(Math.min(...values), 1e-3)));
  const high = 10 ** Math.ceil(Math.log10(Math.max(...values)));
  const left = 330, right = 140, plot = 520, bar = 14, gap = 4, groupGap = 12, top = 56;
  const width = left + plot + right;
  const x = (ms: number) =>
    left + (Math.log10(Math.max(ms, low)) - Math.log10(low)) / Math.log10(high / low) * plot;

  const body: string[] = [];
  let y = top;
  for (const scenario of ran) {
    const height = scenario.variants.length * (bar + gap) - gap;
    body.push(
      `<text x="${left - 10}" y="${y + height / 2 + 4}" text-anchor="end" class="label">` +
        `${escape(scenario.title)}</text>`,
    );
    for (const v of scenario.variants) {
      const colour = COLOURS[v.name] ?? CLIENTS_COLOUR;
      body.push(
        `<rect x="${left}" y="${y}" width="${(x(v.p95) - left).toFixed(1)}" height="${bar}" ` +
          `fill="${colour}" fill-opacity="0.3"/>`,
        `<rect x="${left}" y="${y}" width="${(x(v.p50) - left).toFixed(1)}" height="${bar}" ` +
          `fill="${colour}"/>`,
        `<text x="${left + 4}" y="${y + bar - 3}" class="variant">${escape(v.name)}</text>`,
        `<text x="${(x(v.p95) + 4).toFixed(1)}" y="${y + bar - 3}" class="value">` +
          `${formatMs(v.p50)} / ${formatMs(v.p95)} ms</text>`,
      );
      y += bar + gap;
    }
    y += groupGap;
  }
  const bottom = y;

  const axis: string[] = [];
  for (let tick = low; tick <= high * 1.0001; tick *= 10) {
    const tx = x(tick).toFixed(1);
    axis.push(
      `<line x1="${tx}" y1="${top - 6}" x2="${tx}" y2="${bottom}" class="grid"/>`,
      `<text x="${tx}" y="${bottom + 16}" text-anchor="middle" class="tick">` +
        `${tick >= 1 ? tick.toFixed(0) : tick} ms</text>`,
    );
  }

  const height = bottom + 40;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif">
<style>
  .title { font-size: 16px; font-weight: 600; }
  .subtitle, .tick, .value { font-size: 11px; fill: #555; }
  .label { font-size: 12px; }
  .variant { font-size: 10px; fill: #fff; }
  .grid { stroke: #ddd; stroke-width: 1; }
</style>
<rect width="100%" height="100%" fill="#fff"/>
<text x="16" y="24" class="title">FDW bridge: latency by scenario (p50 solid, p95 light; log scale)</text>
<text x="16" y="42" class="subtitle">${escape(subtitle)}</text>
${axis.join("\n")}
${body.join("\n")}
</svg>
`;
}
