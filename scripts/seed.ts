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
import { join } from "node:path";
import { parseArgs } from "node:util";
import { stackConfig } from "./stack/config.ts";
import { envFile, readEnvFile } from "./stack/env.ts";
import { pgBin, psql } from "./stack/postgres.ts";
import * as generate from "./seed/generate.ts";
import { grantDemoScopes } from "./seed/scopes.ts";

const HNSW_INDEX = "events_embedding_hnsw";
// Used only if a previous run died between dropping and recreating the index: the definition
// in sql/timescale/01_schema.sql.
const HNSW_FALLBACK = `create index ${HNSW_INDEX} on public.events ` +
  "using hnsw (event_embedding extensions.vector_cosine_ops)";

const log = (message: string) => console.error(`seed: ${message}`);
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

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
  const hour = generate.HOUR_MS;
  // Wall-clock time picks the default window only; the rows themselves never read the clock.
  const until = values.until === undefined
    ? Math.floor(Date.now() / hour) * hour + hour
    // A time without a zone is read as UTC, not local time, so the rows match across machines.
    : Date.parse(/T[\d:.]+$/.test(values.until) ? values.until + "Z" : values.until);
  if (Number.isNaN(until)) throw new Error(`--until is not a timestamp: ${values.until}`);
  const [events, activity, missions] = [count("events"), count("activity"), count("missions")];
  const seed = count("seed");
  if (seed > 0xffffffff) throw new Error("--seed must fit in 32 bits");
  if (activity > 0 && missions === 0) {
    throw new Error("--activity needs --missions >= 1: every activity row names a mission");
  }
  return { events, activity, missions, seed, until };
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
 * The Timescale nodes in the bridge's catalog: where the seed reaches each (all but the default
 * at their server's host, port and database) and whether a row lies in its slice. The default
 * node has none, and a list slice on a column the table lacks holds none of its rows
 * (activity_log and location_key: supabase/schemas/nodes.sql).
 */
async function readNodes(supabaseUrl: string, defaultUrl: string) {
  const json = await psql(
    supabaseUrl,
    `select coalesce(json_agg(json_build_object(
              'name', n.name,
              'server', (select json_object_agg(option_name, option_value)
                           from pg_catalog.pg_options_to_table(s.srvoptions)),
              'from', extract(epoch from lower(n.time_range)) * 1000,
              'to', extract(epoch from upper(n.time_range)) * 1000,
              'column', n.list_column,
              'values', n.list_values) order by n.name), '[]')
       from bridge.nodes n join pg_catalog.pg_foreign_server s on s.srvname = n.server`,
    { tuplesOnly: true },
  );
  type Slice = { from: number | null; to: number | null; column: string | null; values: string[] };
  type Entry = Slice & { name: string; server: Record<string, string> };
  return (JSON.parse(json) as Entry[]).map(({ name, server, ...slice }) => {
    const url = new URL(defaultUrl);
    if (name !== "default") {
      Object.assign(url, { hostname: server.host, port: server.port, pathname: server.dbname });
    }
    const inSlice = (row: generate.Row) => {
      if (slice.column !== null) return slice.values.includes(row[slice.column]);
      const time = Date.parse(row.event_time);
      return name !== "default" && time >= (slice.from ?? -Infinity) &&
        time < (slice.to ?? Infinity);
    };
    return { name, url: url.toString(), inSlice };
  });
}

// COPY text format: backslash, tab, newline and carriage return are the only bytes with meaning
// inside a field, so escaping those four keeps any value (JSON included) intact.
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/** Time spent per step label, over every node, for the closing summary. */
const spent: Record<string, number> = {};

/**
 * Runs one step and logs `seed: <the summary it returns> in <seconds>`. Meanwhile, on a terminal
 * only (CI logs stay readable), a line ticks with the rows sent so far and the time taken.
 */
async function step(label: string, work: (progress: (rows: number) => void) => Promise<string>) {
  const started = performance.now();
  const draw = (text: string) =>
    Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K${text}`));
  let sent = "";
  const tick = () => draw(`seed: ${label}...${sent} ${seconds(performance.now() - started)}`);
  const ticker = Deno.stderr.isTerminal() ? setInterval(tick, 100) : undefined;
  let summary: string;
  try {
    summary = await work((rows) => sent = ` ${rows} rows,`);
  } finally {
    clearInterval(ticker);
    if (ticker !== undefined) draw("");
  }
  const elapsed = performance.now() - started;
  spent[label] = (spent[label] ?? 0) + elapsed;
  log(`${summary} in ${seconds(elapsed)}`);
}

/** The table each count of the command line fills, and what its summary line calls the rows. */
const TABLES = {
  missions: { table: "public.missions", noun: "missions" },
  events: { table: "public.events", noun: "events" },
  activity: { table: "public.activity_log", noun: "activity rows" },
};

/**
 * Loads `rows` into the table of `kind` at `url` as one step: one COPY FROM STDIN through psql,
 * streamed in ~1 MB chunks, never a round trip per row, and one transaction, so a failure leaves
 * the table as it was. Its line gives the server's row count, once checked against the rows sent.
 */
function load(url: string, kind: keyof typeof TABLES, rows: Iterator<generate.Row>) {
  const { table, noun } = TABLES[kind];
  return step(kind, async (progress) => {
    const first = rows.next();
    if (first.done) return `0 ${noun}`;
    // Every row of a table has the same columns, in the same order.
    const columns = Object.keys(first.value);
    const copy = `copy ${table} (${columns.join(", ")}) from stdin`;
    const child = new Deno.Command(join(pgBin(), "psql"), {
      args: [url, "-X", "-v", "ON_ERROR_STOP=1", "-c", copy],
      env: { PGCONNECT_TIMEOUT: "5" },
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let sent = 0;
    function* chunks() {
      let chunk = "";
      for (let next = first; !next.done; next = rows.next()) {
        const row = next.value;
        chunk += columns.map((column) => row[column].replace(/[\\\t\n\r]/g, (c) => ESCAPES[c]))
          .join("\t") + "\n";
        sent++;
        if (chunk.length >= 1 << 20) {
          yield chunk;
          chunk = "";
          progress(sent);
        }
      }
      yield chunk;
    }
    // A chunk is made only when psql has taken the last, so generation waits for the server. A
    // failed write is usually a broken pipe because psql already failed: its stderr says why.
    const writing = ReadableStream.from(chunks()).pipeThrough(new TextEncoderStream())
      .pipeTo(child.stdin).then(() => undefined, (error) => error);
    const { code, stdout, stderr } = await child.output();
    const writeError = await writing;
    const text = new TextDecoder();
    // psql prints the command tag, "COPY 100000": the server's own count.
    const loaded = Number(text.decode(stdout).match(/COPY (\d+)/)?.[1]);
    if (code !== 0 || writeError || loaded !== sent) {
      const why = text.decode(stderr).trim() || writeError || `loaded ${loaded} rows of ${sent}`;
      throw new Error(`copy into ${table} failed: ${why}`);
    }
    return `${loaded} ${noun}`;
  });
}

async function seed(args: ReturnType<typeof parseCommandLine>) {
  const db = connectionStrings();
  const window = `window from ${generate.iso(args.until - generate.SPAN_MS)}`;
  log(`--seed ${args.seed} --until ${generate.iso(args.until)} (${window})`);
  const nodes = await readNodes(db.supabase, db.timescale);
  const holder = (row: generate.Row) => nodes.find((node) => node.inSlice(row))?.name ?? "default";

  // Truncate everything first: activity rows must never outlive the missions they name.
  for (const node of nodes) {
    await psql(node.url, "truncate public.events, public.activity_log");
  }
  await psql(db.supabase, "truncate public.missions, public.event_scopes");
  const missions = generate.missions(args.missions, args);
  await load(db.supabase, "missions", missions.values());
  await grantDemoScopes(db.supabase);
  log("granted each demo user their sites (public.event_scopes)");

  for (const node of nodes) {
    if (nodes.length > 1) log(`node ${node.name}`);
    const holds = (row: generate.Row) => holder(row) === node.name;
    // HNSW inserts row by row are slow (each one walks the graph); a bulk build after the load
    // is many times faster. Keep the index's own definition so any tuning of it survives.
    const indexdef = (await psql(
      node.url,
      `select indexdef from pg_indexes where schemaname = 'public' and indexname = '${HNSW_INDEX}'`,
      { tuplesOnly: true },
    )).trim() || HNSW_FALLBACK;
    await psql(node.url, `drop index if exists public.${HNSW_INDEX}`);
    try {
      await load(node.url, "events", generate.events(args.events, args).filter(holds));
    } finally {
      // Rebuilt even when the load failed, so a failed seed never leaves search without its
      // index. Session settings: enough memory to build the graph in RAM and both cores.
      const settings = "set maintenance_work_mem = '1GB'; set max_parallel_maintenance_workers = 2";
      await step("building the hnsw index", async () => {
        await psql(node.url, `${settings}; ${indexdef}`);
        return "hnsw index built";
      });
    }
    const activity = generate.activity(args.activity, missions, args).filter(holds);
    await load(node.url, "activity", activity);
    // Fresh statistics, so the first queries (local and pushed down over the FDW) plan well.
    // Vacuum too, as after any bulk load: it sets the visibility map (index-only scans), and
    // without it an insert-triggered autovacuum arrives about a minute later (seen 58 s after a
    // seed) and shifts the node's plans while the tests or the benchmark run.
    await step("vacuuming and analyzing", async () => {
      await psql(node.url, "vacuum (analyze) public.events, public.activity_log");
      return "vacuumed and analyzed";
    });
  }

  // The Supabase side plans pushdown from its own statistics of the foreign tables, which
  // autovacuum never gathers: without them postgres_fdw may keep a LIMIT or a GROUP BY local.
  // On a partitioned table, analyze also gathers each partition's.
  await psql(db.supabase, "vacuum (analyze) public.missions");
  await psql(db.supabase, "analyze bridge.events, bridge.activity_log");
  log(
    `${args.events} events (${seconds(spent.events)}), ${args.activity} activity rows ` +
      `(${seconds(spent.activity)}), ${args.missions} missions (${seconds(spent.missions)}); ` +
      `hnsw index built in ${seconds(spent["building the hnsw index"])}` +
      (nodes.length > 1 ? ` (${nodes.length} nodes)` : ""),
  );
}

try {
  await seed(parseCommandLine(Deno.args));
} catch (error) {
  // psql's errors quote its command line: keep the connection strings' passwords out of logs.
  log((error as Error).message.replace(/(\/\/[^:/@\s]+:)[^@\s]+@/g, "$1***@"));
  Deno.exit(1);
}
