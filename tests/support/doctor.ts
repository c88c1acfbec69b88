/**
 * The doctor for tests: its CLI run as an operator runs it, with nothing but its arguments, and
 * one check's result from a run on the stack.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { CheckResult } from "../../scripts/doctor/check.ts";
import { runDoctor } from "../../scripts/doctor/run.ts";
import { repoRoot } from "../../scripts/stack/config.ts";
import { env } from "./fixture.ts";

/** The doctor's lines for one node, in report order. */
export const doctorNodeChecks = [
  "server",
  "link",
  "link encrypted",
  "link read-only",
  "pgvector",
  "node index for search",
  "node index for activity",
  "hypertables",
  "drift",
  "no PII by name",
  "statistics",
  "pushdown search_events",
  "pushdown mission_activity",
  "pushdown event_histogram",
];

/** Runs `npm run doctor -- ...args` with an empty environment: its exit code and output. */
export async function doctorCli(...args: string[]) {
  const { code, stdout, stderr } = await new Deno.Command(
    join(repoRoot, "node_modules", ".bin", "deno"),
    {
      args: ["run", "-A", "scripts/doctor.ts", ...args],
      cwd: repoRoot,
      env: { NO_COLOR: "1" },
      clearEnv: true,
    },
  ).output();
  const text = new TextDecoder();
  const [out, err] = [text.decode(stdout), text.decode(stderr)];
  return { code, stdout: out, stderr: err, output: out + err };
}

/** The doctor's result for `check` on the stack. */
export async function doctorResult(check: string): Promise<CheckResult> {
  const result = (await runDoctor(env("SUPABASE_DB_URL"))).find((r) => r.name === check);
  assert.ok(result, `the doctor reports ${check}`);
  return result;
}
