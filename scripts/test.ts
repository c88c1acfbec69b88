/**
 * `npm test [-- --supabase-pg 15|17 | --both]`: static checks, then every Deno test and pgTAP
 * file against a throwaway stack on its own directory and ports (never the dev stack's data),
 * the Supabase side on PostgreSQL 17 (or 15 when asked; --both runs the tests on 17, then on 15),
 * then teardown, even on failure. Names each failed test with its message, prints the static
 * checks' count on a line of its own, then ends with one line `N passed, N failed` that counts
 * tests only, of every version run.
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import {
  DEFAULT_SUPABASE_PG,
  MAX_TIMESCALE_NODES,
  repoRoot,
  type SupabasePg,
  supabasePgVersion,
} from "./stack/config.ts";
import { findPgBin } from "./stack/postgres.ts";
import * as throwaway from "./stack/throwaway.ts";
import { testDatasetSeedArgs } from "../tests/support/dataset.ts";

/** What the suite, or one part of it, counted, and each failed test with its message. */
type Tally = { passed: number; failed: number; failures: { test: string; message: string }[] };

const emptyTally = (): Tally => ({ passed: 0, failed: 0, failures: [] });
const deno = join(repoRoot, "node_modules", ".bin", "deno");

/** Adds `part` to `total`, each failure's name after `prefix`. */
function add(total: Tally, { passed = 0, failed = 0, failures = [] }: Partial<Tally>, prefix = "") {
  total.passed += passed;
  total.failed += failed;
  total.failures.push(...failures.map((failure) => ({ ...failure, test: prefix + failure.test })));
}

/**
 * Runs one part of the suite with its output echoed as it comes, so CI shows it all, and counts
 * it from its output and exit code. A part that failed without naming a failure is named by its
 * last lines of output.
 */
async function runPart(
  total: Tally,
  name: string,
  [command, ...args]: string[],
  count: (output: string, code: number) => Partial<Tally>,
  env: Record<string, string> = {},
) {
  console.log(`\n== ${name}`);
  const child = new Deno.Command(command, {
    args,
    cwd: repoRoot,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const decoder = new TextDecoder();
  let output = "";
  const echo = async (stream: ReadableStream<Uint8Array>, sink: typeof Deno.stdout) => {
    for await (const chunk of stream) {
      output += decoder.decode(chunk, { stream: true });
      await sink.write(chunk);
    }
  };
  const [{ code }] = await Promise.all([
    child.status,
    echo(child.stdout, Deno.stdout),
    echo(child.stderr, Deno.stderr),
  ]);
  const part = count(output, code);
  if (part.failed && !part.failures?.length) {
    part.failures = [{ test: name, message: output.trimEnd().split("\n").slice(-20).join("\n") }];
  }
  console.log(`${part.failed ? "FAILED" : "ok"}: ${name}`);
  add(total, part);
}

/** Every Deno test in tests/ and every pgTAP file in supabase/tests/ on a stack. */
async function runTests(total: Tally, env: Record<string, string>) {
  await runPart(total, "deno test", [deno, "test", "-A", "--no-check", "tests/"], denoTally, env);
  const url = new URL(env.SUPABASE_DB_URL);
  const pgProve = [
    ...["pg_prove", "-h", "127.0.0.1", "-p", url.port, "-U", "postgres", "-d", "postgres"],
    ...["--ext", ".sql", "-r", join(repoRoot, "supabase", "tests")],
  ];
  await runPart(total, "pg_prove supabase/tests", pgProve, pgTapTally, {
    PGPASSWORD: decodeURIComponent(url.password),
    PATH: `${findPgBin()}:${Deno.env.get("PATH")}`,
  });
}

/**
 * Deno's runner closes with `ok | 12 passed (3 steps) | 0 failed (3s)`, after an ERRORS section
 * that names each failed test (`name => file:line:col`, or `file (uncaught error)`) on the line
 * before its `error: ...`.
 */
function denoTally(output: string, code: number): Partial<Tally> {
  const counts = output.match(/(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/);
  const errors = output.match(/^ ERRORS \n([\s\S]*?)^ FAILURES /m)?.[1] ?? "";
  const failures = errors.split(/^(?=.+\nerror: )/m).filter((text) => text.trim());
  return {
    passed: Number(counts?.[1] ?? 0),
    failed: counts ? Number(counts[2]) || Number(code !== 0) : 1,
    failures: failures.map((text) => {
      const [test, ...message] = text.trim().split("\n");
      return { test, message: message.join("\n") };
    }),
  };
}

/**
 * pg_prove closes with `Files=1, Tests=12, ...` and `Result: PASS|FAIL`; pgTAP names each failure
 * in a diagnostic `#   Failed test 5: "description"`, followed by its details.
 */
function pgTapTally(output: string): Partial<Tally> {
  const summary = output.match(/Files=\d+, Tests=(\d+)/);
  const tests = Number(summary?.[1] ?? 0);
  if (summary && output.includes("Result: PASS")) return { passed: tests };
  const failures = [
    ...output.matchAll(/^#\s+Failed test (\d+): (.*)\n((?:#(?!\s+Failed test).*\n)*)/gm),
  ].map(([, number, description, details]) => ({
    test: `supabase/tests: ${number} ${description}`,
    message: details.replace(/^#\s*/gm, "").replace(/^Looks like you failed.*$/m, "").trim(),
  }));
  const failed = Math.max(failures.length, 1);
  return { passed: Math.max(tests - failures.length, 0), failed, failures };
}

/**
 * Runs every test `runs` times on a throwaway stack (ports from TEST_PORT_BASE, default 25320)
 * with the Supabase side on each of `versions` in turn, a fresh stack every `freshEvery` runs,
 * torn down even on failure. Of its three Timescale nodes only the first is attached:
 * tests/nodes/nodes_test.ts attaches the others. Names each failure with its message (and run and
 * version, when there are several); ends with one line `N passed, N failed` over the tests,
 * after a line of its own for `checks` (the static checks) when given.
 */
export async function runSuite(
  runs: number,
  freshEvery: number,
  checks?: Tally,
  versions: SupabasePg[] = [DEFAULT_SUPABASE_PG],
) {
  const total = emptyTally();
  const summaries: string[] = [];
  let passedRuns = 0;
  for (const version of versions) {
    const leg = versions.length > 1 ? `PostgreSQL ${version}: ` : "";
    const legTotal = emptyTally();
    const started = performance.now();
    passedRuns += await runLeg(runs, freshEvery, legTotal, version, summaries);
    const seconds = ((performance.now() - started) / 1000).toFixed(0);
    if (versions.length > 1) {
      summaries.push(
        `PostgreSQL ${version}: ${legTotal.passed} passed, ${legTotal.failed} failed (${seconds} s)`,
      );
    }
    add(total, legTotal, leg);
  }
  const failures = [...checks?.failures ?? [], ...total.failures];
  if (failures.length > 0) console.log("\n== failures");
  for (const { test, message } of failures) {
    console.log(`\nFAILED ${test}\n${message.replace(/^/gm, "    ")}`);
  }
  const allRuns = runs * versions.length;
  if (allRuns > 1) {
    console.log(`\n${summaries.join("\n")}\n\n${passedRuns} of ${allRuns} runs passed`);
  }
  if (checks) {
    console.log(
      `\nstatic checks (fmt, lint, check): ${checks.passed} passed, ${checks.failed} failed`,
    );
  }
  console.log(`\n${total.passed} passed, ${total.failed} failed`);
  Deno.exit(total.failed === 0 && !checks?.failed ? 0 : 1);
}

/** One version's runs, added to `total`; returns how many runs passed. */
async function runLeg(
  runs: number,
  freshEvery: number,
  total: Tally,
  version: SupabasePg,
  summaries: string[],
): Promise<number> {
  let passedRuns = 0;
  try {
    let env: Record<string, string> = {};
    for (let run = 1; run <= runs; run++) {
      if ((run - 1) % freshEvery === 0) {
        await throwaway.stopThrowawayStacks();
        const ports = throwaway.portsFromBase("TEST_PORT_BASE", 25320);
        const stack = await throwaway.startThrowawayStack(
          "test",
          ports,
          MAX_TIMESCALE_NODES,
          version,
        );
        await throwaway.seedStack(stack, testDatasetSeedArgs);
        await throwaway.startGateway(stack);
        env = stack.env;
      }
      const started = performance.now();
      const tally = emptyTally();
      await runTests(tally, env);
      const seconds = ((performance.now() - started) / 1000).toFixed(0);
      summaries.push(
        `PostgreSQL ${version}, run ${run}/${runs}: ${tally.passed} passed, ` +
          `${tally.failed} failed (${seconds} s)`,
      );
      console.log(`\n== ${summaries.at(-1)}`);
      if (tally.failed === 0) passedRuns++;
      add(total, tally, runs > 1 ? `run ${run}: ` : "");
    }
  } catch (error) {
    const message = (error as Error).message;
    console.error(`test run aborted: ${message}`);
    add(total, { failed: 1, failures: [{ test: "test stack", message }] });
  } finally {
    await throwaway.stopThrowawayStacks();
  }
  return passedRuns;
}

if (import.meta.main) {
  const options = { "supabase-pg": { type: "string" }, both: { type: "boolean" } } as const;
  const { values } = parseArgs({ args: Deno.args, options });
  const versions: SupabasePg[] = values.both
    ? [17, 15]
    : [supabasePgVersion(values["supabase-pg"] ?? String(DEFAULT_SUPABASE_PG))];
  const checks = emptyTally();
  // What `npm run fmt`, `lint` and `check` run; deno.json says which files they cover.
  for (const args of [["fmt", "--check"], ["lint"], ["check"]]) {
    const counted = (_: string, code: number) => code === 0 ? { passed: 1 } : { failed: 1 };
    await runPart(checks, `deno ${args.join(" ")}`, [deno, ...args], counted);
  }
  await runSuite(1, 1, checks, versions);
}
