/**
 * `npm run test:repeat -- --runs N [--fresh-every K]`: runs every test N times to find flaky
 * ones, on one throwaway stack that is replaced by a fresh one every K runs (default 5), so both
 * a long-lived stack and a new one are exercised. Lists each failure by run, test and message,
 * and exits 1 if any run failed.
 */
import { parseArgs } from "node:util";
import { stopThrowawayStacks } from "./stack/throwaway.ts";
import { type Failure, printFailures, runTests, startTestStack } from "./test/suite.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    runs: { type: "string", default: "20" },
    "fresh-every": { type: "string", default: "5" },
  },
});
const runs = Number(values.runs), freshEvery = Number(values["fresh-every"]);
for (const [name, value] of [["--runs", runs], ["--fresh-every", freshEvery]] as const) {
  if (!Number.isInteger(value) || value < 1) {
    console.error(`${name} must be a whole number of at least 1, got ${value}`);
    Deno.exit(2);
  }
}

const failures: Failure[] = [];
const summaries: string[] = [];
try {
  let env: Record<string, string> | undefined;
  for (let run = 1; run <= runs; run++) {
    if ((run - 1) % freshEvery === 0) {
      await stopThrowawayStacks();
      env = (await startTestStack()).env;
    }
    const started = performance.now();
    const tally = await runTests(env!);
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    summaries.push(
      `run ${run}/${runs}: ${tally.passed} passed, ${tally.failed} failed (${seconds} s)`,
    );
    console.log(`\n== ${summaries.at(-1)}`);
    failures.push(...tally.failures.map((f) => ({ ...f, test: `run ${run}: ${f.test}` })));
  }
} catch (error) {
  failures.push({ test: "test stack", message: (error as Error).message });
} finally {
  await stopThrowawayStacks();
}

printFailures(failures, "failures over all runs");
console.log(`\n${summaries.join("\n")}`);
const failedRuns = new Set(failures.map((f) => f.test.split(":")[0])).size;
console.log(`\n${runs - failedRuns} of ${runs} runs passed, ${failures.length} failures`);
Deno.exit(failures.length === 0 ? 0 : 1);
