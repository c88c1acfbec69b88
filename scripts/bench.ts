/**
 * `npm run bench [-- --quick | --scale] [--out DIR]`: the bridge's performance, measured side by
 * side in one run on a stack of its own (a temporary directory, ports 27521/27522/27532 unless
 * BENCH_PORT_BASE moves them: base + 1, + 2, + 12), seeded with a
 * fixed dataset and torn down at the end, even on failure or Ctrl-C. Its last part starts two
 * more stacks with the same rows on 2 and 3 Timescale nodes (base + 21 to + 33, + 41 to + 54;
 * scripts/bench/nodes.ts).
 *
 * Full: 100,000 events × 768 dims, 1,000,000 activity rows, 10,000 missions, about 6 minutes on
 * 2 cores (a third of it the naive search). --quick: a fifth of the events, a tenth of the rest,
 * the same scenarios, in about 90 seconds. --scale: searches and activity at three sizes
 * (scripts/bench/scale.ts). The multi-node part adds about 2.5 minutes to --quick (measured at a
 * load average of 4), two more seedings of the dataset and its timed rounds to a full run. Writes bench.json, bench.md and bench.svg into --out
 * (default bench-out/, git-ignored) and prints bench.md.
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { repoRoot } from "./stack/config.ts";
import { EMBEDDING_DIMS } from "./seed/generate.ts";
import { activityScenarios } from "./bench/activity.ts";
import { closeConnections, type Connections, openConnections } from "./bench/db.ts";
import { functionScenariosOnGateway } from "./bench/functions.ts";
import { linkTraffic } from "./bench/link.ts";
import { describeMachine, type Machine } from "./bench/machine.ts";
import { createNaiveServer, naiveScenario } from "./bench/naive.ts";
import { markdown, type RunInfo, writeOutputs } from "./bench/output.ts";
import { log } from "./bench/progress.ts";
import { queryVectors } from "./bench/queries.ts";
import { goals, goalStatus, Report } from "./bench/report.ts";
import { searchScenarios } from "./bench/search.ts";
import { type Dataset, SCALES, scaleScenarios } from "./bench/scale.ts";
import { callBreakdowns } from "./bench/parts.ts";
import { multiNodeScenarios } from "./bench/nodes.ts";
import {
  portsFromBase,
  seedStack,
  startThrowawayStack,
  stopThrowawayStacks,
} from "./stack/throwaway.ts";

const DATASETS = {
  full: { events: 100_000, activity: 1_000_000, missions: 10_000 },
  quick: { events: 20_000, activity: 100_000, missions: 1_000 },
};
// Fixed, so every run measures the same rows.
const SEED = 1;
const UNTIL = "2026-11-01T00:00:00.000Z";
const ROUNDS = { warmup: 20, count: 200, naive: 20, recall: 100 };
// Three seeds in one run: fewer rounds per scenario.
const SCALE_ROUNDS = { warmup: 10, count: 100 };
const QUERY_VECTORS = 256;
// Beside the dev stack's 5432x and the tests' 5532x; BENCH_PORT_BASE moves them.
const BENCH_PORTS = portsFromBase("BENCH_PORT_BASE", 27520);

const { values: options } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    scale: { type: "boolean", default: false },
    out: { type: "string", default: join(repoRoot, "bench-out") },
    help: { type: "boolean", default: false },
  },
});
if (options.help) {
  console.log("usage: npm run bench [-- --quick | --scale] [--out DIR]");
  Deno.exit(0);
}
const mode: RunInfo["mode"] = options.scale ? "scale" : options.quick ? "quick" : "full";
const data = mode === "scale" ? SCALES[SCALES.length - 1] : DATASETS[mode];
const out = resolve(options.out);

let db: Connections | undefined;

/** scripts/seed.ts's arguments for a dataset, with the run's fixed seed and end. */
const seedArgs = (dataset: Dataset) => [
  ...Object.entries(dataset).flatMap(([name, count]) => [`--${name}`, String(count)]),
  "--seed",
  String(SEED),
  "--until",
  UNTIL,
];

let tearingDown: Promise<void> | undefined;

/**
 * Stops whatever was started, in reverse. A signal and the main path's `finally` may both ask;
 * both wait for the same teardown, so neither exits while the stack still runs.
 */
function teardown(): Promise<void> {
  tearingDown ??= (async () => {
    await (db && closeConnections(db).catch((error) => log(`connections: ${error}`)));
    await stopThrowawayStacks();
  })();
  return tearingDown;
}

// Exit codes as a shell reports a process killed by the signal: 128 + its number.
for (const [signal, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  Deno.addSignalListener(signal, async () => {
    log(`${signal}: tearing the stack down`);
    await teardown();
    Deno.exit(code);
  });
}

async function bench(): Promise<RunInfo & { report: Report }> {
  const startedAt = new Date().toISOString(), started = performance.now();
  log(`${mode} run: ${JSON.stringify(data)}, results to ${out}`);
  const stack = await startThrowawayStack("bench", BENCH_PORTS);
  const report = new Report();
  const until = new Date(UNTIL);
  const run = (machine: Machine) => ({
    report,
    mode,
    startedAt,
    seconds: (performance.now() - started) / 1000,
    data: { ...data, dims: EMBEDDING_DIMS, seed: SEED, until: UNTIL },
    rounds: mode === "scale" ? { ...ROUNDS, ...SCALE_ROUNDS } : ROUNDS,
    machine,
  });
  if (mode === "scale") {
    await scaleScenarios({
      stack,
      report,
      seedArgs,
      ...SCALE_ROUNDS,
      queryVectors: QUERY_VECTORS,
      until,
    });
    db = await openConnections(stack.env);
    return run(await describeMachine(db));
  }
  await seedStack(stack, seedArgs(data));
  db = await openConnections(stack.env);
  const machine = await describeMachine(db);
  const vectors = await queryVectors(db.timescaleAdmin, QUERY_VECTORS);

  await searchScenarios({ db, report, vectors, ...ROUNDS, recallCount: ROUNDS.recall, until });
  await callBreakdowns({
    db,
    report,
    vectors,
    count: ROUNDS.count,
    missions: data.missions,
    until,
  });
  await createNaiveServer(db, stack);
  await naiveScenario(db, report, vectors, ROUNDS.naive);
  await activityScenarios({ db, report, missions: data.missions, ...ROUNDS, until });

  await functionScenariosOnGateway(stack, { db, report, vectors, ...ROUNDS });
  await linkTraffic(stack.env, db, report, vectors, data.missions, until);
  await multiNodeScenarios({
    stack,
    db,
    report,
    seedArgs: seedArgs(data),
    vectors,
    missions: data.missions,
    ...ROUNDS,
    until,
  });

  return run(machine);
}

let failed = false;
try {
  const { report, ...run } = await bench();
  writeOutputs(out, report, run);
  console.log(markdown(report, run));
  const missed = goals.filter((g) => goalStatus(g, report.metrics) !== "met");
  if (run.mode !== "scale") {
    log(
      missed.length ? `goals not met: ${missed.map((g) => g.label).join(", ")}` : "every goal met",
    );
  }
  log(`wrote bench.json, bench.md and bench.svg to ${out}`);
} catch (error) {
  // psql's errors quote connection strings: keep their passwords out of the log.
  log(`failed: ${(error as Error).message.replace(/(\/\/[^:/@\s]+:)[^@\s]+@/g, "$1***@")}`);
  failed = true;
} finally {
  await teardown();
}
Deno.exit(failed ? 1 : 0);
