/**
 * Where one call's time goes, measured in each call rather than inferred from differences of
 * separate timings. Before each call pg_stat_statements is reset on both nodes; after it, the
 * Supabase node says how long it planned and ran the RPC and each statement nested in it, and
 * the Timescale node lists the statements the bridge sent it (postgres_fdw's, one round trip
 * each, or the one statement a step sends through dblink), with their own time. The parts (PARTS) are differences of those: the RPC wrappers are the SQL and
 * PL/pgSQL functions, their argument checks and RLS lookups and the rows handed back up; the link
 * and local execution is each round trip's latency, TLS, libpq, the parsing of the rows fetched
 * and what the local plan computes. Medians over the calls.
 */
import type postgres from "postgres";
import { FIRST_MISSION_ID } from "../seed/generate.ts";
import { activityCall, type Call, type Connections, missionIdSets, searchCall } from "./db.ts";
import { interleave, quantile } from "./measure.ts";
import { activityWindow, type Run, searches } from "./scenarios.ts";

interface Statement {
  query: string;
  toplevel: boolean;
  calls: number;
  time: number;
  plan: number;
}

/** The statements a node ran since the last reset, by `user` when given, and resets it. */
async function statements(sql: postgres.Sql, schema: string, user: string | null = null) {
  const rows = await sql.unsafe<Statement[]>(
    `select s.query, s.toplevel, s.calls::int as calls, s.total_plan_time as plan,
            s.total_plan_time + s.total_exec_time as time
       from ${schema}.pg_stat_statements s
      where s.dbid = (select oid from pg_catalog.pg_database where datname = current_database())
        and ($1::text is null or s.userid = $1::regrole)
        and s.query not like '%pg_stat_statements%'`,
    [user],
  );
  await sql.unsafe(`select ${schema}.pg_stat_statements_reset()`);
  return rows;
}

const total = (rows: Statement[]) => rows.reduce((sum, s) => sum + s.time, 0);

/** postgres_fdw's statements for one scan, in the order it sends them. */
const PROTOCOL = ["SET", "START", "DECLARE", "FETCH", "CLOSE", "COMMIT"];

/** The parts of a call, in the order tracedCall measures them; a column each. */
const PARTS = [
  "the whole call, at the client",
  "statements sent to the node",
  "client ↔ Supabase (client − RPC on Supabase)",
  "RPC wrappers (RPC − remote statement)",
  "planning the remote statement on Supabase",
  "the caller's scope (init plans)",
  "the node's own work (every statement the bridge sent)",
  "link and local execution (remote statement − scope − node)",
  "of which: fetching and parsing the 10 embeddings (paired foreign scans)",
  "of which: the local distance (paired foreign scans)",
];

/** One call as service_role, in parts, and the statements the node ran with their times. */
async function tracedCall(db: Connections, call: Call) {
  // Read, and so reset, so that the call is alone in the statistics read after it.
  await statements(db.admin, "extensions");
  await statements(db.node, "public");
  const started = performance.now();
  await db.traced.unsafe(call.rpc, call.params);
  const client = performance.now() - started;
  const local = await statements(db.admin, "extensions");
  const node = await statements(db.node, "public", "bridge_reader");
  const rpc = total(local.filter((s) => s.toplevel && s.query.startsWith("select * from public.")));
  const nested = local.filter((s) => !s.toplevel);
  // The statement that reads through the link (a foreign table's, or the one that asks the nodes
  // through dblink), and the caller's scope its init plans read.
  const link = /from bridge\.(events_in_scope|activity_log) |from bridge\.ask_nodes\(/;
  const [remote, ...more] = nested.filter((s) => link.test(s.query));
  if (!remote || more.length) {
    throw new Error(`breakdown: expected one remote statement, saw ${local.map((s) => s.query)}`);
  }
  const scope = total(
    nested.filter((s) => /bridge\.event_access|public\.event_scopes/.test(s.query)),
  );
  const verb = (s: Statement) => s.query.split(" ")[0];
  return {
    parts: [
      client,
      node.reduce((sum, s) => sum + s.calls, 0),
      client - rpc,
      rpc - remote.time,
      remote.plan,
      scope,
      total(node),
      remote.time - remote.plan - scope - total(node),
    ],
    statements: node.sort((a, b) => PROTOCOL.indexOf(verb(a)) - PROTOCOL.indexOf(verb(b)))
      .map((s) => `${verb(s)} ${s.time.toFixed(3)}`).join(", "),
  };
}

/**
 * The 10 embeddings and the distance, measured on Supabase by foreign scans the benchmark writes
 * (the bridge does not send them): the search as a plain foreign scan (as postgres, no local
 * sort) with the distance, with the embedding only, and with neither, on the same query vector;
 * the paired differences of their execution.
 */
async function embeddingParts(db: Connections, vectors: string[], from: string) {
  const keys = "e.event_time, e.user_token, e.agent_key, e.device_key, e.location_key, " +
    "e.event_type, e.data_payload_proc";
  const distance = "e.event_embedding operator(extensions.<=>) $1::extensions.vector";
  const fetched: number[] = [], computed: number[] = [];
  for (const vector of vectors) {
    const exec = [];
    for (const columns of [`${keys}, ${distance}`, `${keys}, e.event_embedding`, keys]) {
      await db.admin.begin(async (tx) => {
        await tx`set local enable_sort = off`;
        await tx.unsafe(
          `select ${columns} from bridge.events e
            where e.event_embedding is not null and e.event_time >= $2::timestamptz
            order by ${distance} limit 10`,
          [vector, from],
        );
      });
      const ran = await statements(db.admin, "extensions");
      const scan = ran.find((s) => s.query.includes("from bridge.events e"))!;
      exec.push(scan.time - scan.plan);
    }
    fetched.push(exec[1] - exec[2]);
    computed.push(exec[0] - exec[1]);
  }
  return [fetched, computed];
}

/**
 * Breaks down the 3-day-window search and mission_activity for 1 and 10 missions (without and
 * with its window), `count` calls each: a column each, and `<id>_<part>_ms` metrics.
 */
export async function callBreakdowns(run: Run) {
  const vectors = run.vectors.slice(0, run.count);
  const [, , [, searchTitle, lastDays]] = searches(run.until);
  const columns: [string, string, Call[]][] = [
    ["parts_search_window", searchTitle, vectors.map((v) => searchCall(v, lastDays))],
  ];
  for (const windowed of [false, true]) {
    for (const size of [1, 10]) {
      const sets = missionIdSets(FIRST_MISSION_ID, run.missions, size, run.count);
      const window = windowed ? activityWindow(run.until) : [];
      columns.push([
        `parts_activity_${size}${windowed ? "_window" : ""}`,
        `mission_activity, ${size} mission${size > 1 ? "s" : ""}` +
        (windowed ? ", one-week window" : ""),
        sets.map((ids) => activityCall(ids, window)),
      ]);
    }
  }
  const medians: number[][] = [], examples: string[] = [];
  for (const [id, title, calls] of columns) {
    const [{ results }] = await interleave(`parts: ${title}`, calls, {
      warmup: 0,
      count: calls.length,
    }, [
      ["traced", (call) => tracedCall(run.db, call)],
    ]);
    const traced = results as Awaited<ReturnType<typeof tracedCall>>[];
    const samples = traced[0].parts.map((_, i) => traced.map((t) => t.parts[i]));
    if (id === "parts_search_window") {
      samples.push(...await embeddingParts(run.db, vectors, lastDays.from!));
    }
    const median = samples.map((values) => quantile(values, 0.5));
    medians.push(median);
    // The last call's statements: the first may include postgres_fdw's session set-up.
    examples.push(`${title}: ${traced[traced.length - 1].statements}`);
    for (const [i, ms] of median.entries()) {
      const part = PARTS[i].replace(/ \(.*$/, "").replace(/\W+/g, "_");
      const name = ["client_ms", "round_trips"][i] ?? `${part}_ms`;
      run.report.metric(`${id}_${name}`, ms);
    }
  }
  run.report.sections.push({
    title: "Where the time of one call goes (ms)",
    intro: `Medians over ${run.count} calls each, every call measured by pg_stat_statements ` +
      "on both nodes (scripts/bench/parts.ts). Statements sent to the node, each a round " +
      `trip, with their time in the last call: ${examples.join("; ")}.`,
    header: ["part", ...columns.map(([, title]) => title)],
    rows: PARTS.map((part, i) => [part, ...medians.map((median) => median[i] ?? NaN)]),
  });
}
