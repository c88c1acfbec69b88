/** The doctor's report: one line per check with the fix under each failure, or JSON. */
import type { CheckResult } from "./check.ts";

/**
 * The report as text: `ok` or `FAIL`, the check's name, what was found; an indented `fix:` line
 * under each failure; and a closing count.
 *
 * @example
 * console.log(formatText([{ name: "server", ok: true, detail: "events_ts → db:5432/postgres" }]));
 * // ok    server                     events_ts → db:5432/postgres
 * // 1 passed, 0 failed
 */
export function formatText(results: CheckResult[]): string {
  const width = Math.max(...results.map((r) => r.name.length)) + 2;
  const lines = results.flatMap((r) => [
    `${r.ok ? "ok  " : "FAIL"}  ${r.name.padEnd(width)}${r.detail}`,
    ...(r.fix ? [`${" ".repeat(6 + width)}fix: ${r.fix}`] : []),
  ]);
  const failed = results.filter((r) => !r.ok).length;
  return [...lines, `${results.length - failed} passed, ${failed} failed`].join("\n");
}

/**
 * The report as JSON: `{ ok, passed, failed, checks: [{ name, ok, detail, fix? }] }`.
 *
 * @example
 * JSON.parse(formatJson(results)).ok; // true only when every check passed
 */
export function formatJson(results: CheckResult[]): string {
  const failed = results.filter((r) => !r.ok).length;
  return JSON.stringify(
    { ok: failed === 0, passed: results.length - failed, failed, checks: results },
    null,
    2,
  );
}
