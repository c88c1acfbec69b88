/**
 * `npm run bench [-- --quick | --scale] [--out DIR] [--supabase-pg 15|17]`: the bridge's
 * performance, measured side by side in one run on a stack of its own (a temporary directory,
 * ports from BENCH_PORT_BASE, the Supabase side on PostgreSQL 17 unless asked for 15),
 * seeded with a fixed dataset and torn down at the end, even on failure or Ctrl-C. Its last part
 * starts two more stacks with the same rows on 2 and 3 Timescale nodes (scripts/bench/nodes.ts).
 * --quick measures the same on smaller data; --scale, searches and activity at three sizes.
 * --rtt 0,5,20 adds the multi-node queries on 1 and 3 nodes at those link round trips (ms),
 * through delay proxies (scripts/bench/rtt.ts).
 * Writes bench.json, bench.md and bench.svg into --out and prints bench.md.
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { EMBEDDING_DIMS } from "./seed/generate.ts";
import { DEFAULT_SUPABASE_PG, repoRoot, supabasePgVersion } from "./stack/config.ts";
import * as throwaway from "./stack/throwaway.ts";
import { type Connections, openConnections, queryVectors } from "./bench/db.ts";
import { functionScenarios } from "./bench/functions.ts";
import { log } from "./bench/measure.ts";
import { multiNodeScenarios } from "./bench/nodes.ts";
import { callBreakdowns } from "./bench/parts.ts";
import * as report from "./bench/report.ts";
import { rttScenarios } from "./bench/rtt.ts";
import * as scenarios from "./bench/scenarios.ts";
import { statisticsScenarios } from "./bench/statistics.ts";

const DATASETS = {
  full: { events: 100_000, activity: 1_000_000, missions: 10_000 },
  quick: { events: 20_000, activity: 100_000, missions: 1_000 },
};
type Dataset = typeof DATASETS.full;
// Each --scale size has ten activity rows per event and a mission per ten events.
const SCALES = [25_000, 100_000, 300_000].map((events) => ({
  events,
  activity: events * 10,
  missions: events / 10,
}));
// Fixed, so every run measures the same rows.
const SEED = 1;
const UNTIL = "2026-11-01T00:00:00.000Z";
// --scale seeds three times in one run: fewer rounds per scenario.
const ROUNDS = { warmup: 20, count: 200, naive: 20, recall: 100 };
const SCALE_ROUNDS = { ...ROUNDS, warmup: 10, count: 100 };
const QUERY_VECTORS = 256;
// Beside the dev stack's 5432x and the tests' 5532x; BENCH_PORT_BASE moves them.
const BENCH_PORTS = throwaway.portsFromBase("BENCH_PORT_BASE", 27520);

const { values: options } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    scale: { type: "boolean", default: false },
    rtt: { type: "string", default: "" },
    out: { type: "string", default: join(repoRoot, "bench-out") },
    "supabase-pg": { type: "string", default: String(DEFAULT_SUPABASE_PG) },
    help: { type: "boolean", default: false },
  },
});
const usage =
  "usage: npm run bench [-- --quick | --scale] [--rtt MS,MS,...] [--out DIR] [--supabase-pg 15|17]";
if (options.help) {
  console.log(usage);
  Deno.exit(0);
}
/** Round trips to add between the bridge and its nodes, in ms, in the order given. */
const rtts = options.rtt === "" ? [] : options.rtt.split(",").map(Number);
if (rtts.some((rtt) => !Number.isFinite(rtt) || rtt < 0) || (rtts.length && options.scale)) {
  console.error(`--rtt takes round trips in ms, such as 0,5,20, and not with --scale\n${usage}`);
  Deno.exit(2);
}
const mode = options.scale ? "scale" : options.quick ? "quick" : "full";
const data = mode === "scale" ? SCALES[SCALES.length - 1] : DATASETS[mode];
const rounds = mode === "scale" ? SCALE_ROUNDS : ROUNDS;
const out = resolve(options.out);
const until = new Date(UNTIL);

/** scripts/seed.ts's arguments for a dataset, with the run's fixed seed and end. */
const seedArgs = (dataset: Dataset) => [
  ...Object.entries(dataset).flatMap(([name, count]) => [`--${name}`, String(count)]),
  ...["--seed", String(SEED), "--until", UNTIL],
];

const opened: Connections[] = [];
/** The scenarios' context on a freshly seeded stack: its connections and query vectors. */
async function runOn(stack: throwaway.ThrowawayStack, dataset: Dataset, into: report.Report) {
  const db = openConnections(stack.env);
  opened.push(db);
  const vectors = await queryVectors(db.node, QUERY_VECTORS);
  return { db, report: into, vectors, missions: dataset.missions, until, ...rounds };
}

let tearingDown: Promise<void> | undefined;
/**
 * Stops whatever was started. A signal and the main path's `finally` may both ask; both wait
 * for the same teardown, so neither exits while the stack still runs.
 */
function teardown(): Promise<void> {
  tearingDown ??= (async () => {
    for (const db of opened) {
      await Promise.all(Object.values(db).map((sql) => sql.end({ timeout: 5 }).catch(log)));
    }
    await throwaway.stopThrowawayStacks();
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

/**
 * Growth: the stack seeded at each size in turn, and at each the searches and mission_activity
 * for 10 missions against the node, with the rows each call fetches across the link. Every
 * scenario, metric and link row is named for its size, so the tables and chart show every size.
 */
async function growth(stack: throwaway.ThrowawayStack, all: report.Report) {
  const rows = [];
  for (const dataset of SCALES) {
    await throwaway.seedStack(stack, seedArgs(dataset));
    const sized = new report.Report();
    const run = await runOn(stack, dataset, sized);
    const [plain, , windowed] = scenarios.searches(until);
    await scenarios.compareSearch(run, plain);
    await scenarios.compareSearch(run, windowed);
    await scenarios.activityScenarios(run, [10], [false]);
    const m = sized.metrics, label = `${dataset.events / 1000}k`;
    // The link rows come in the order of the scenarios above.
    const cells = [
      [m.search_bridge_p50_ms, m.search_direct_p50_ms],
      [m.search_window_bridge_p50_ms, m.search_window_direct_p50_ms],
      [m.activity_10_bridge_beside_best_p50_ms, m.activity_10_best_plan_p50_ms],
    ].flatMap(([bridge, node], i) => [
      `${report.num(bridge)} / ${report.num(node)} (${(bridge / node).toFixed(2)})`,
      sized.link[i][1],
    ]);
    rows.push([...Object.values(dataset), ...cells]);
    for (const s of sized.scenarios) {
      all.scenarios.push({ ...s, id: `${s.id}_${label}`, title: `${s.title} (${label} events)` });
    }
    for (const [name, value] of Object.entries(m)) all.metrics[`${name}_${label}`] = value;
    all.link.push(...sized.link.map(([query, ...rest]) => [`${query} (${label})`, ...rest]));
  }
  all.sections.push(report.linkSection(all));
  return {
    title: "Growth",
    intro: "p50 in ms through the bridge / on the node (for activity, the node's best plan), " +
      "the ratio in brackets, and the rows each call fetched across the link.",
    header: ["events", "activity rows", "missions"].concat(
      ...["search", "search, last 3 days", "activity, 10 missions"].map((query) => [query, "rows"]),
    ),
    rows,
  };
}

/** What a run ran on, in one line, so numbers are never read without their context. */
async function machine(db: Connections) {
  const read = (path: string) => Deno.readTextFile(path).catch(() => "");
  const short = (version: string) => version.split(" on ")[0];
  const [{ version: supabase }] = await db.admin`select version()`;
  const [{ version: node }] = await db.node`select version()`;
  const extensions = await db.node`select extname, extversion from pg_catalog.pg_extension`;
  const versions = Object.fromEntries(extensions.map((e) => [e.extname, e.extversion]));
  const kib = Number((await read("/proc/meminfo")).match(/MemTotal:\s+(\d+)/)?.[1]);
  const cpu = (await read("/proc/cpuinfo")).match(/model name\s*:\s*(.+)/)?.[1]?.trim();
  const os = (await read("/etc/os-release")).match(/PRETTY_NAME="?([^"\n]+)/)?.[1];
  return [
    `${navigator.hardwareConcurrency} cores (${cpu}), ${(kib / 2 ** 20).toFixed(1)} GiB RAM`,
    `${os}, kernel ${Deno.osRelease()}; the Supabase side ${short(supabase)}, the Timescale ` +
    `nodes ${short(node)}`,
    `pgvector ${versions.vector}, TimescaleDB ${versions.timescaledb}, Deno ${Deno.version.deno}`,
  ].join(", ");
}

async function bench() {
  const startedAt = new Date().toISOString(), started = performance.now();
  log(`${mode} run: ${JSON.stringify(data)}, results to ${out}`);
  const supabasePg = supabasePgVersion(options["supabase-pg"]);
  const stack = await throwaway.startThrowawayStack("bench", BENCH_PORTS, 1, supabasePg);
  const results = new report.Report();
  let headline: report.Section;
  if (mode === "scale") {
    headline = await growth(stack, results);
  } else {
    await throwaway.seedStack(stack, seedArgs(data));
    const run = await runOn(stack, data, results);
    await scenarios.searchScenarios(run, ROUNDS.recall);
    await callBreakdowns(run);
    await scenarios.naiveScenario(run, stack, ROUNDS.naive);
    await scenarios.activityScenarios(run);
    await statisticsScenarios(run, stack);
    await functionScenarios(run, stack);
    results.sections.push(report.linkSection(results));
    await multiNodeScenarios(
      run,
      stack,
      seedArgs(data),
      rtts.length ? (layouts) => rttScenarios(run, [layouts[0], layouts[2]], rtts) : undefined,
    );
    headline = report.goalsSection(results.metrics, mode === "quick");
  }
  const seconds = Math.round((performance.now() - started) / 1000);
  const dims = EMBEDDING_DIMS, count = (n: number) => n.toLocaleString("en");
  const run = {
    mode,
    startedAt,
    seconds,
    data: { ...data, dims, seed: SEED, until: UNTIL },
    rounds,
    machine: await machine(opened[opened.length - 1]),
  };
  const dataset = `${count(data.events)} events × ${dims} dims, ${count(data.activity)} ` +
    `activity rows, ${count(data.missions)} missions`;
  const heading = `# FDW bridge benchmark (${mode})\n\n` +
    (mode === "scale" ? "The largest of the sizes below: " : "") +
    `${dataset} (seed ${SEED}, until ${UNTIL}); ${rounds.count} timed rounds per scenario after ` +
    `${rounds.warmup} warm-up rounds, variants interleaved, each first and after each other ` +
    `equally often. Run at ${startedAt}, ${seconds} s in all.\n\nMachine: ${run.machine}.`;
  const md = report.markdown(results, heading, headline);
  const goals = report.goalStatus(results.metrics);
  const sections = [headline, ...results.sections];
  const json = { ...results.metrics, run, goals, scenarios: results.scenarios, sections };
  Deno.mkdirSync(out, { recursive: true });
  Deno.writeTextFileSync(join(out, "bench.md"), md);
  Deno.writeTextFileSync(join(out, "bench.json"), JSON.stringify(json, null, 2) + "\n");
  const chart = report.latencyChart(results.scenarios, `${mode} run: ${dataset}; ${startedAt}`);
  Deno.writeTextFileSync(join(out, "bench.svg"), chart);
  console.log(md);
  const missed = goals.filter((g) => g.status !== "met").map((g) => g.label);
  if (mode !== "scale") {
    log(missed.length ? `goals not met: ${missed.join(", ")}` : "every goal met");
  }
  log(`wrote bench.json, bench.md and bench.svg to ${out}`);
}

let failed = false;
try {
  await bench();
} catch (error) {
  // psql's errors quote connection strings: keep their passwords out of the log.
  log(`failed: ${(error as Error).message.replace(/(\/\/[^:/@\s]+:)[^@\s]+@/g, "$1***@")}`);
  failed = true;
} finally {
  await teardown();
}
Deno.exit(failed ? 1 : 0);
