/**
 * Replaces the demo data on Supabase and every Timescale node with deterministic rows:
 *
 *   npm run seed -- [--events 20000] [--activity 100000] [--missions 5000] [--seed 1]
 *                   [--until 2026-11-25T15:00:00Z]
 *
 * The same seed, until and counts load byte-for-byte the same rows. `until` defaults to the
 * start of the next UTC hour, so the data covers "the last 30 days"; pass it to reproduce a run.
 * Each event and activity row goes to the node whose slice holds it (bridge.nodes), so the nodes
 * together hold the same rows whatever their number. Connection strings come from
 * SUPABASE_DB_URL and TIMESCALE_DB_URL (the default node; the others are reached as the same
 * user at their own address), else from the stack's env file (STACK_DIR honoured).
 */
import { parseArgs } from "node:util";
import { stackConfig } from "./stack/config.ts";
import { envFile, readEnvFile } from "./stack/env.ts";
import { psql } from "./stack/postgres.ts";
import {
  generateActivity,
  generateEvents,
  generateMissions,
  type Row,
  SPAN_MS,
} from "./seed/generate.ts";
import { copyRows, readNodes, rowsOf, type SeedNode } from "./seed/load.ts";
import { grantDemoScopes } from "./seed/scopes.ts";

const HNSW_INDEX = "events_embedding_hnsw";
// Used only if a previous run died between dropping and recreating the index: the definition
// in sql/timescale/01_schema.sql.
const HNSW_FALLBACK = `create index ${HNSW_INDEX} on public.events ` +
  "using hnsw (event_embedding extensions.vector_cosine_ops)";

const log = (message: string) => console.error(`seed: ${message}`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const iso = (ms: number) => new Date(ms).toISOString();

type Args = ReturnType<typeof parseCommandLine>;

function parseCommandLine(args: string[]) {
  const { values } = parseArgs({
    args,
    options: {
      events: { type: "string", default: "20000" },
      activity: { type: "string", default: "100000" },
      missions: { type: "string", default: "5000" },
      seed: { type: "string", default: "1" },
      until: { type: "string" },
    },
  });
  const count = (name: "events" | "activity" | "missions" | "seed") => {
    const value = Number(values[name]);
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new Error(`--${name} must be a whole number >= 0, got ${values[name]}`);
    }
    return value;
  };
  const hour = 3600 * 1000;
  // Wall-clock time picks the default window only; the rows themselves never read the clock.
  const until = values.until === undefined
    ? Math.floor(Date.now() / hour) * hour + hour
    // A time without a zone is read as UTC, not local time, so the rows match across machines.
    : Date.parse(/T[\d:.]+$/.test(values.until) ? values.until + "Z" : values.until);
  if (Number.isNaN(until)) throw new Error(`--until is not a timestamp: ${values.until}`);
  const parsed = {
    events: count("events"),
    activity: count("activity"),
    missions: count("missions"),
    seed: count("seed"),
    until,
  };
  if (parsed.seed > 0xffffffff) throw new Error("--seed must fit in 32 bits");
  if (parsed.activity > 0 && parsed.missions === 0) {
    throw new Error("--activity needs --missions >= 1: every activity row names a mission");
  }
  return parsed;
}

/** The admin connection strings: the environment first, then the stack's env file. */
function connectionStrings() {
  const file = envFile(stackConfig());
  const fromFile = readEnvFile(file);
  const pick = (name: string) => Deno.env.get(name) || fromFile[name];
  const supabase = pick("SUPABASE_DB_URL"), timescale = pick("TIMESCALE_DB_URL");
  if (!supabase || !timescale) {
    throw new Error(
      `no database to seed: set SUPABASE_DB_URL and TIMESCALE_DB_URL, or run ` +
        `\`npm run stack:up\` first (it writes them to ${file})`,
    );
  }
  return { supabase, timescale };
}

/**
 * Runs one step and logs `seed: <the summary it returns> in <seconds>`; returns its duration in
 * ms. Meanwhile, on a terminal only (CI logs stay readable), its progress is redrawn ten times a
 * second: a bar of the rows done out of `total`, or for a step without one the time so far.
 */
async function step(
  label: string,
  total: number | undefined,
  work: (progress: (done: number) => void) => Promise<string>,
): Promise<number> {
  const started = performance.now();
  const encoder = new TextEncoder();
  const draw = (text: string) => Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${text}`));
  let done = 0;
  const redraw = () => {
    const elapsed = seconds(performance.now() - started);
    if (total === undefined) return draw(`seed: ${label}... ${elapsed}`);
    const fraction = total ? Math.min(done / total, 1) : 1;
    const bar = "#".repeat(Math.round(fraction * 30)).padEnd(30, ".");
    const percent = String(Math.floor(fraction * 100)).padStart(3);
    draw(`seed: ${label.padEnd(8)} [${bar}] ${percent}% ${done}/${total}  ${elapsed}`);
  };
  const ticker = Deno.stderr.isTerminal() ? setInterval(redraw, 100) : undefined;
  let summary: string;
  try {
    summary = await work((rows) => done = rows);
  } finally {
    if (ticker !== undefined) {
      clearInterval(ticker);
      draw("");
    }
  }
  const elapsed = performance.now() - started;
  log(`${summary} in ${seconds(elapsed)}`);
  return elapsed;
}

/** Loads `rows` into `table` as a step with a progress bar; returns its duration in ms. */
function load(
  url: string,
  label: string,
  noun: string,
  table: string,
  total: number,
  rows: Iterable<Row>,
) {
  return step(
    label,
    total,
    async (progress) => `${await copyRows(url, table, rows, progress)} ${noun}`,
  );
}

async function seed(args: Args) {
  const db = connectionStrings();
  log(`--seed ${args.seed} --until ${iso(args.until)} (window from ${iso(args.until - SPAN_MS)})`);
  const nodes = await readNodes(db.supabase, db.timescale);

  // Truncate everything first: activity rows must never outlive the missions they name.
  for (const node of nodes) {
    await psql(node.url, "truncate public.events, public.activity_log");
  }
  await psql(db.supabase, "truncate public.missions, public.event_scopes");

  const missions = generateMissions(args.missions, args);
  const missionsMs = await load(
    db.supabase,
    "missions",
    "missions",
    "public.missions",
    args.missions,
    missions,
  );

  await grantDemoScopes(db.supabase);
  log("granted each demo user their sites (public.event_scopes)");

  const totalMs = { events: 0, index: 0, activity: 0 };
  for (const node of nodes) {
    if (nodes.length > 1) log(`node ${node.name}`);
    const nodeMs = await seedNode(node, nodes, args, missions);
    totalMs.events += nodeMs.events;
    totalMs.index += nodeMs.index;
    totalMs.activity += nodeMs.activity;
  }

  // The Supabase side plans pushdown from its own statistics of the foreign tables, which
  // autovacuum never gathers: without them postgres_fdw may keep a LIMIT or a GROUP BY local.
  // On a partitioned table, analyze also gathers each partition's.
  await psql(db.supabase, "vacuum (analyze) public.missions");
  await psql(db.supabase, "analyze bridge.events, bridge.activity_log");

  log(
    `${args.events} events (${seconds(totalMs.events)}), ${args.activity} activity rows ` +
      `(${seconds(totalMs.activity)}), ${args.missions} missions (${seconds(missionsMs)}); ` +
      `hnsw index built in ${seconds(totalMs.index)}` +
      (nodes.length > 1 ? ` (${nodes.length} nodes)` : ""),
  );
}

/** Loads one node's share of the events and activity, and rebuilds its search index. */
async function seedNode(node: SeedNode, nodes: SeedNode[], args: Args, missions: Row[]) {
  // HNSW inserts row by row are slow (each one walks the graph); a bulk build after the load is
  // many times faster. Keep the index's own definition so any tuning of it survives a reseed.
  const indexdef = (await psql(
    node.url,
    `select indexdef from pg_indexes where schemaname = 'public' and indexname = '${HNSW_INDEX}'`,
    { tuplesOnly: true },
  )).trim() || HNSW_FALLBACK;
  await psql(node.url, `drop index if exists public.${HNSW_INDEX}`);
  const events = generateEvents(args.events, args);
  let eventsMs = 0, indexMs = 0;
  try {
    eventsMs = await load(
      node.url,
      "events",
      "events",
      "public.events",
      args.events,
      rowsOf(node, nodes, events),
    );
  } finally {
    // Rebuilt even when the load failed, so a failed seed never leaves search without its index.
    // Session settings: enough memory to build the graph in RAM and both cores.
    indexMs = await step("building the hnsw index", undefined, async () => {
      await psql(
        node.url,
        "set maintenance_work_mem = '1GB'; set max_parallel_maintenance_workers = 2; " + indexdef,
      );
      return "hnsw index built";
    });
  }

  const activity = generateActivity(args.activity, missions, args);
  const activityMs = await load(
    node.url,
    "activity",
    "activity rows",
    "public.activity_log",
    args.activity,
    rowsOf(node, nodes, activity),
  );

  // Fresh statistics, so the first queries (local and pushed down over the FDW) plan well. Vacuum
  // too, as after any bulk load: it sets the visibility map (index-only scans), and without it an
  // insert-triggered autovacuum arrives about a minute later (seen 58 s after a seed) and shifts
  // the node's plans while the tests or the benchmark run.
  await step("vacuuming and analyzing", undefined, async () => {
    await psql(node.url, "vacuum (analyze) public.events, public.activity_log");
    return "vacuumed and analyzed";
  });
  return { events: eventsMs, index: indexMs, activity: activityMs };
}

try {
  await seed(parseCommandLine(Deno.args));
} catch (error) {
  // psql's errors quote its command line: keep the connection strings' passwords out of logs.
  log((error as Error).message.replace(/(\/\/[^:/@\s]+:)[^@\s]+@/g, "$1***@"));
  Deno.exit(1);
}
