/**
 * The test suite as `npm test` and `npm run test:repeat` run it: the static checks, the stack the
 * tests run on, and one run of every Deno test and pgTAP file against that stack, with each
 * failure named with its message.
 */
import { join } from "node:path";
import { MAX_TIMESCALE_NODES, repoRoot } from "../stack/config.ts";
import { findPgBin } from "../stack/postgres.ts";
import {
  portsFromBase,
  seedStack,
  type StackPorts,
  startGateway,
  startThrowawayStack,
  type ThrowawayStack,
} from "../stack/throwaway.ts";
import { testDatasetSeedArgs } from "../../tests/dataset.ts";

const deno = join(repoRoot, "node_modules", ".bin", "deno");

/** A failed test: where it is, its name, and what it said. */
export interface Failure {
  test: string;
  message: string;
}

/** What one part of the suite counted. */
export interface Tally {
  passed: number;
  failed: number;
  failures: Failure[];
}

/** Adds `part` into `total`. */
export function addTally(total: Tally, part: Tally) {
  total.passed += part.passed;
  total.failed += part.failed;
  total.failures.push(...part.failures);
}

const emptyTally = (): Tally => ({ passed: 0, failed: 0, failures: [] });

/** Runs a command with its output echoed as it comes, so CI shows it all, and kept. */
async function runEchoed(cmd: string, args: string[], env: Record<string, string> = {}) {
  const child = new Deno.Command(cmd, {
    args,
    cwd: repoRoot,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const decoder = new TextDecoder();
  let output = "";
  const pump = async (stream: ReadableStream<Uint8Array>, sink: typeof Deno.stdout) => {
    for await (const chunk of stream) {
      output += decoder.decode(chunk, { stream: true });
      await sink.write(chunk);
    }
  };
  const [status] = await Promise.all([
    child.status,
    pump(child.stdout, Deno.stdout),
    pump(child.stderr, Deno.stderr),
  ]);
  return { code: status.code, output };
}

/** `deno fmt --check`, `deno lint` and `deno check`, one count each. */
export async function staticChecks(): Promise<Tally> {
  const tally = emptyTally();
  const checks: [string, string[]][] = [
    ["deno fmt --check", ["fmt", "--check"]],
    ["deno lint", ["lint"]],
    ["deno check", ["check", "scripts/", "tests/", "functions/"]],
  ];
  for (const [name, args] of checks) {
    console.log(`\n== ${name}`);
    const { code, output } = await runEchoed(deno, args);
    if (code === 0) tally.passed++;
    else {
      tally.failed++;
      tally.failures.push({ test: name, message: lastLines(output, 20) });
    }
    console.log(`${code === 0 ? "ok" : "FAILED"}: ${name}`);
  }
  return tally;
}

/**
 * The test stack's ports: 25321/25322/25332 (and 25333, 25334 for the further Timescale nodes)
 * unless TEST_PORT_BASE moves them (base + 1, + 2, + 12), so two checkouts can run their suites side by side. Below 32768, where Linux takes no
 * local port for an outgoing connection.
 */
function testPorts(): StackPorts {
  return portsFromBase("TEST_PORT_BASE", 25320);
}

/**
 * A throwaway stack seeded with the test dataset, with the functions gateway serving: three
 * Timescale nodes, the first alone attached (tests/nodes_test.ts attaches the others).
 */
export async function startTestStack(): Promise<ThrowawayStack> {
  const stack = await startThrowawayStack("test", testPorts(), MAX_TIMESCALE_NODES);
  await seedStack(stack, testDatasetSeedArgs);
  await startGateway(stack);
  return stack;
}

/** Every Deno test in tests/ and every pgTAP file in supabase/tests/, on the stack in `env`. */
export async function runTests(env: Record<string, string>): Promise<Tally> {
  const tally = emptyTally();
  addTally(tally, await denoTests(env));
  addTally(tally, await pgTapTests(env));
  return tally;
}

async function denoTests(env: Record<string, string>): Promise<Tally> {
  console.log("\n== deno test");
  const report = await Deno.makeTempFile({ prefix: "fdw-bridge-junit-", suffix: ".xml" });
  try {
    const { code, output } = await runEchoed(
      deno,
      ["test", "-A", "--no-check", `--junit-path=${report}`, "tests/"],
      env,
    );
    // Deno's runner closes with `ok | 12 passed (3 steps) | 0 failed (3s)`.
    const counts = output.match(
      /(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/,
    );
    const failures = junitFailures(await Deno.readTextFile(report).catch(() => ""));
    if (!counts) {
      return {
        passed: 0,
        failed: 1,
        failures: [{
          test: "deno test",
          message: `no summary (exit ${code}):\n${lastLines(output, 20)}`,
        }],
      };
    }
    const failed = Number(counts[2]) || (code === 0 ? 0 : 1);
    if (failures.length === 0 && failed > 0) {
      failures.push({ test: "deno test", message: lastLines(output, 20) });
    }
    return { passed: Number(counts[1]), failed, failures };
  } finally {
    await Deno.remove(report).catch(() => {});
  }
}

const xmlEntities: Record<string, string> = {
  "&lt;": "<",
  "&gt;": ">",
  "&quot;": '"',
  "&apos;": "'",
  "&amp;": "&",
};
const unescapeXml = (text: string) =>
  text.replace(/&(?:lt|gt|quot|apos|amp);/g, (entity) => xmlEntities[entity]);

/**
 * The failed test cases of Deno's JUnit report. A test whose steps failed is named by its steps
 * alone: its own entry only says how many failed.
 */
function junitFailures(xml: string): Failure[] {
  const cases = xml.matchAll(
    /<testcase name="([^"]*)" classname="([^"]*)"[^>]*>\s*<failure message="([^"]*)"/g,
  );
  return [...cases]
    .filter(([, , , message]) => !/^\d+ test steps? failed$/.test(message))
    .map(([, name, file, message]) => ({
      test: `${unescapeXml(file)}: ${unescapeXml(name)}`,
      message: unescapeXml(message).replace(/^Uncaught /, "").trim(),
    }));
}

async function pgTapTests(env: Record<string, string>): Promise<Tally> {
  console.log("\n== pg_prove supabase/tests");
  const url = new URL(env.SUPABASE_DB_URL);
  const { output } = await runEchoed("pg_prove", [
    ...["-h", "127.0.0.1", "-p", url.port, "-U", "postgres", "-d", "postgres"],
    ...["--ext", ".sql", "-r", join(repoRoot, "supabase", "tests")],
  ], {
    PGPASSWORD: decodeURIComponent(url.password),
    PATH: `${findPgBin()}:${Deno.env.get("PATH")}`,
  });
  // pg_prove closes with `Files=1, Tests=12, ...` and `Result: PASS|FAIL`; pgTAP names each
  // failure in a diagnostic `#   Failed test 5: "description"`, followed by its details.
  const total = output.match(/Files=\d+, Tests=(\d+)/);
  const failures = [
    ...output.matchAll(/^#\s+Failed test (\d+): (.*)\n((?:#(?!\s+Failed test).*\n)*)/gm),
  ]
    .map(([, number, description, details]) => ({
      test: `supabase/tests: ${number} ${description}`,
      message: details.replace(/^#\s*/gm, "").replace(/^Looks like you failed.*$/m, "").trim(),
    }));
  if (!total || !output.includes("Result: PASS")) {
    const failed = Math.max(failures.length, 1);
    if (failures.length === 0) {
      failures.push({ test: "pg_prove", message: lastLines(output, 20) });
    }
    return { passed: total ? Number(total[1]) - failures.length : 0, failed, failures };
  }
  return { passed: Number(total[1]), failed: 0, failures: [] };
}

function lastLines(text: string, count: number) {
  return text.trimEnd().split("\n").slice(-count).join("\n");
}

/** Prints each failure with its message, so a log names what failed without a re-run. */
export function printFailures(failures: Failure[], heading = "failures") {
  if (failures.length === 0) return;
  console.log(`\n== ${heading}`);
  for (const { test, message } of failures) {
    console.log(`\nFAILED ${test}\n${message.replace(/^/gm, "    ")}`);
  }
}
