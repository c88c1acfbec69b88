/**
 * `npm test`: static checks, then every test against a throwaway two-node stack on its own
 * directory and ports (never the dev stack's data), then teardown, even on failure.
 * Names each failed test with its message, then ends with one line `N passed, N failed`.
 */
import { stopThrowawayStacks } from "./stack/throwaway.ts";
import { addTally, printFailures, runTests, startTestStack, staticChecks } from "./test/suite.ts";

const tally = await staticChecks();
try {
  const stack = await startTestStack();
  addTally(tally, await runTests(stack.env));
} catch (error) {
  const message = (error as Error).message;
  console.error(`test run aborted: ${message}`);
  addTally(tally, { passed: 0, failed: 1, failures: [{ test: "test stack", message }] });
} finally {
  await stopThrowawayStacks();
}

printFailures(tally.failures);
console.log(`\n${tally.passed} passed, ${tally.failed} failed`);
Deno.exit(tally.failed === 0 ? 0 : 1);
