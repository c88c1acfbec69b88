/**
 * `npm test`: static checks, then every test against a throwaway two-node stack on its own
 * directory and ports (never the dev stack's data), then teardown, even on failure.
 * Ends with one line `N passed, N failed`.
 */
import { join } from "node:path";
import { repoRoot, type StackConfig } from "./stack/config.ts";
import { envFile, readEnvFile } from "./stack/env.ts";
import { stackDown, stackUp } from "./stack/lifecycle.ts";
import { findPgBin } from "./stack/postgres.ts";
import { testDatasetSeedArgs } from "../tests/dataset.ts";

const deno = join(repoRoot, "node_modules", ".bin", "deno");
let passed = 0;
let failed = 0;

interface Outcome {
  code: number;
  output: string;
}

/** Runs a command with inherited stdio captured and echoed, so CI shows it all. */
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
  return { code: status.code, output } satisfies Outcome;
}

async function check(name: string, args: string[]) {
  console.log(`\n== ${name}`);
  const { code } = await runEchoed(deno, args);
  if (code === 0) passed++;
  else failed++;
  console.log(`${code === 0 ? "ok" : "FAILED"}: ${name}`);
}

/** Deno's runner closes with `ok | 12 passed | 0 failed (3s)`; counts come from that line. */
function countDenoTests(output: string): { passed: number; failed: number } | undefined {
  const match = output.match(/(?:ok|FAILED) \| (\d+) passed(?: \(\d+ steps?\))? \| (\d+) failed/);
  return match ? { passed: Number(match[1]), failed: Number(match[2]) } : undefined;
}

/** pg_prove closes with `Files=1, Tests=12, ...` and `Result: PASS|FAIL`. */
function countProveTests(output: string): { passed: number; failed: number } | undefined {
  const total = output.match(/Files=\d+, Tests=(\d+)/);
  if (!total) return undefined;
  const failedTests = [...output.matchAll(/Failed (\d+)\/\d+ subtests/g)]
    .reduce((sum, match) => sum + Number(match[1]), 0);
  const failures = output.includes("Result: PASS") ? 0 : Math.max(failedTests, 1);
  return { passed: Number(total[1]) - failedTests, failed: failures };
}

/**
 * The test stack's ports: 55321/55322/55332 unless TEST_PORT_BASE moves them (base + 1, + 2,
 * + 12), so two checkouts can run their suites side by side.
 */
function testStackConfig(): StackConfig {
  const dir = Deno.makeTempDirSync({ prefix: "fdw-bridge-test-" });
  Deno.chmodSync(dir, 0o755);
  const base = Number(Deno.env.get("TEST_PORT_BASE") ?? 55320);
  if (!Number.isInteger(base) || base < 1024 || base > 64000) {
    throw new Error(`TEST_PORT_BASE must be a port from 1024 to 64000, got ${base}`);
  }
  return {
    dir: join(dir, "stack"),
    supabasePort: base + 2,
    timescalePort: base + 12,
    functionsPort: base + 1,
  };
}

async function waitForPort(port: number, seconds: number) {
  const until = Date.now() + seconds * 1000;
  while (Date.now() < until) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${seconds} s`);
}

function exists(path: string) {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

await check("deno fmt --check", ["fmt", "--check"]);
await check("deno lint", ["lint"]);
await check("deno check", [
  "check",
  "scripts/",
  "tests/",
  ...(exists("functions") ? ["functions/"] : []),
]);

const config = testStackConfig();
let gateway: Deno.ChildProcess | undefined;
try {
  console.log(`\n== test stack in ${config.dir}`);
  await stackUp(config);
  const stackEnv: Record<string, string> = {
    ...readEnvFile(envFile(config)),
    STACK_DIR: config.dir,
    STACK_SUPABASE_PORT: String(config.supabasePort),
    STACK_TIMESCALE_PORT: String(config.timescalePort),
    STACK_FUNCTIONS_PORT: String(config.functionsPort),
  };
  const seeded = await runEchoed(
    deno,
    ["run", "-A", "scripts/seed.ts", ...testDatasetSeedArgs],
    stackEnv,
  );
  if (seeded.code !== 0) throw new Error("seeding the test stack failed");

  if (exists(join(repoRoot, "scripts", "serve-functions.ts"))) {
    gateway = new Deno.Command(deno, {
      args: ["run", "-A", "scripts/serve-functions.ts"],
      cwd: repoRoot,
      env: stackEnv,
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
    await waitForPort(config.functionsPort, 30);
  }

  console.log("\n== deno test");
  const denoTests = await runEchoed(deno, ["test", "-A", "--no-check", "tests/"], stackEnv);
  const denoCounts = countDenoTests(denoTests.output);
  passed += denoCounts?.passed ?? 0;
  failed += denoCounts?.failed ?? 1;
  if (denoTests.code !== 0 && denoCounts?.failed === 0) failed++;

  const pgTapFolder = join(repoRoot, "supabase", "tests");
  if (exists(pgTapFolder)) {
    console.log("\n== pg_prove supabase/tests");
    const url = new URL(stackEnv.SUPABASE_DB_URL);
    const prove = await runEchoed("pg_prove", [
      "-h",
      "127.0.0.1",
      "-p",
      url.port,
      "-U",
      "postgres",
      "-d",
      "postgres",
      "--ext",
      ".sql",
      "-r",
      pgTapFolder,
    ], {
      PGPASSWORD: decodeURIComponent(url.password),
      PATH: `${findPgBin()}:${Deno.env.get("PATH")}`,
    });
    const proveCounts = countProveTests(prove.output);
    passed += proveCounts?.passed ?? 0;
    failed += proveCounts?.failed ?? 1;
  }
} catch (error) {
  console.error(`test run aborted: ${(error as Error).message}`);
  failed++;
} finally {
  if (gateway) {
    gateway.kill("SIGTERM");
    await gateway.status;
  }
  await stackDown(config).catch((error) => console.error(`teardown: ${error}`));
  Deno.removeSync(join(config.dir, ".."), { recursive: true });
}

console.log(`\n${passed} passed, ${failed} failed`);
Deno.exit(failed === 0 ? 0 : 1);
