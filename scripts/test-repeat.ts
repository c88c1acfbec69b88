/**
 * `npm run test:repeat -- --runs N [--fresh-every K]`: runs every test N times (default 20) to
 * find flaky ones, on one throwaway stack that is replaced by a fresh one every K runs (default
 * 5), so both a long-lived stack and a new one are exercised. Lists each failure by run, test and
 * message, and exits 1 if any run failed.
 */
import { parseArgs } from "node:util";
import { runSuite } from "./test.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "20" },
    "fresh-every": { type: "string", default: "5" },
  },
});
const runs = Number(values.runs);
const freshEvery = Number(values["fresh-every"]);
for (const [name, value] of [["--runs", runs], ["--fresh-every", freshEvery]] as const) {
  if (!Number.isInteger(value) || value < 1) {
    console.error(`${name} must be a whole number of at least 1, got ${value}`);
    Deno.exit(2);
  }
}
await runSuite(runs, freshEvery);
