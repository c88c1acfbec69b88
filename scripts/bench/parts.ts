/**
 * Where one call's time goes, measured in each call rather than inferred from differences of
 * separate timings. Before each call pg_stat_statements is reset on both nodes; after it, the
 * Supabase node says how long it planned and ran the RPC and each statement nested in it
 * (`pg_stat_statements.track = all`, with planning), and the Timescale node lists the
 * statements postgres_fdw sent it, one round trip each, with their own time. Per part, the
 * median over the calls:
 * - client ↔ Supabase: the client's time less the Supabase node's time for the RPC;
 * - RPC wrappers: the RPC's planning and execution less its remote statement's (the SQL and
 *   PL/pgSQL functions, their argument checks and RLS lookups, the rows handed back up);
 * - planning the remote statement on Supabase (view, scope, postgres_fdw's path);
 * - the caller's scope: the statements it runs as init plans, before the remote query;
 * - the node's own work: every statement postgres_fdw sent, planning included;
 * - the link and local execution: the rest of the remote statement's execution, that is each
 *   round trip's latency, TLS, libpq and the parsing of the rows fetched, and what the local
 *   plan computes.
 * For a search, the same statement is also run as a plain foreign scan with and without the
 * distance column and the embedding, paired on each query vector, which measures on the
 * Supabase node what fetching and parsing the 10 embeddings costs, and the local distance.
 */
import { FIRST_MISSION_ID } from "../seed/generate.ts";
import { activityWindow, MAX_ROWS } from "./activity.ts";
import type { Connections } from "./db.ts";
import { quantile } from "./measure.ts";
import { progress } from "./progress.ts";
import {
  activityParams,
  bridgeActivitySql,
  bridgeSearchSql,
  directSearchSql,
  missionIdSets,
  SEARCH_KEY_COLUMNS,
  type SearchFilters,
  searchParams,
} from "./queries.ts";
import type { Report } from "./report.ts";

/** What the breakdowns need from a run. */
export interface PartsRun {
  db: Connections;
  report: Report;
  vectors: string[];
  /** Calls measured per breakdown. */
  count: number;
  missions: number;
  until: Date;
}

interface Statement {
  query: string;
  toplevel: boolean;
  calls: number;
  plan: number;
  exec: number;
}

/** The statements a node ran since the last reset, as `user` (any user when omitted). */
async function statements(sql: Connections["supabaseAdmin"], schema: string, user?: string) {
  const rows = await sql.unsafe<Statement[]>(
    `select s.query, s.toplevel, s.calls::int as calls, s.total_plan_time as plan,
            s.total_exec_time as exec
       from ${schema}.pg_stat_statements s
      where s.dbid = (select oid from pg_catalog.pg_database where datname = current_database())
        and ($1::text is null or s.userid = $1::regrole)
        and s.query not like '%pg_stat_statements%'`,
    [user ?? null],
  );
  return rows;
}

const reset = (sql: Connections["supabaseAdmin"], schema: string) =>
  sql.unsafe(`select ${schema}.pg_stat_statements_reset()`);

/** The statement that reads through the link, in the Supabase node's statistics. */
const REMOTE_STATEMENT = /from bridge\.(events_in_scope|activity_log) /;
/** The caller's scope, read by bridge.events_in_scope's init plans. */
const SCOPE_STATEMENT = /bridge\.event_access|public\.event_scopes/;

/** postgres_fdw's statements for one scan, in the order it sends them. */
const PROTOCOL = ["SET", "START", "DECLARE", "FETCH", "CLOSE", "COMMIT"];

const total = (rows: Statement[]) => rows.reduce((sum, s) => sum + s.plan + s.exec, 0);

/** One call of `statement` as service_role, as the bench's bridge variants make it, in parts. */
async function tracedCall(db: Connections, statement: string, params: (string | number)[]) {
  await reset(db.supabaseAdmin, "extensions");
  await reset(db.timescaleAdmin, "public");
  const started = performance.now();
  await db.traced.unsafe(statement, params);
  const client = performance.now() - started;
  const local = await statements(db.supabaseAdmin, "extensions");
  const node = await statements(db.timescaleAdmin, "public", "bridge_reader");
  const rpc = local.filter((s) => s.toplevel && s.query.startsWith("select * from public."));
  const remote = local.filter((s) => !s.toplevel && REMOTE_STATEMENT.test(s.query));
  if (rpc.length !== 1 || remote.length !== 1) {
    throw new Error(
      `breakdown: expected one RPC and one remote statement, saw ${
        JSON.stringify(local.map((s) => s.query.slice(0, 60)))
      }`,
    );
  }
  const scope = total(local.filter((s) => !s.toplevel && SCOPE_STATEMENT.test(s.query)));
  const onNode = total(node);
  return {
    parts: {
      "client ↔ Supabase (client − RPC on Supabase)": client - total(rpc),
      "RPC wrappers (RPC − remote statement)": total(rpc) - total(remote),
      "planning the remote statement on Supabase": remote[0].plan,
      "the caller's scope (init plans)": scope,
      "the node's own work (every statement postgres_fdw sent)": onNode,
      "link and local execution (remote statement − scope − node)": remote[0].exec - scope -
        onNode,
    } as Record<string, number>,
    client,
    roundTrips: node.reduce((sum, s) => sum + s.calls, 0),
    nodeStatements: node.map((s) => ({ verb: s.query.split(/\s/)[0], ms: s.plan + s.exec }))
      .sort((a, b) => PROTOCOL.indexOf(a.verb) - PROTOCOL.indexOf(b.verb))
      .map((s) => `${s.verb} ${s.ms.toFixed(3)}`),
  };
}

type Traced = Awaited<ReturnType<typeof tracedCall>>;

/** Medians over the calls: of each part, of the round trips and of the whole call. */
function summarizeCalls(calls: Traced[]) {
  const parts = Object.fromEntries(
    Object.keys(calls[0].parts).map((part) => [
      part,
      quantile(calls.map((c) => c.parts[part]), 0.5),
    ]),
  );
  const roundTrips = quantile(calls.map((c) => c.roundTrips), 0.5);
  return { parts, roundTrips, client: quantile(calls.map((c) => c.client), 0.5) };
}

/**
 * The 10 embeddings and the distance, measured on Supabase: the search's statement as a plain
 * foreign scan (as postgres, no local sort) with the distance, with the embedding only, and with
 * neither, on the same query vector; the medians of the paired differences of their execution.
 */
async function embeddingParts(db: Connections, vectors: string[], filters: SearchFilters) {
  const distance = "e.event_embedding operator(extensions.<=>) $1::extensions.vector as distance";
  const variants = {
    distance: directSearchSql(filters, "bridge.events", `${SEARCH_KEY_COLUMNS}, ${distance}`),
    embedding: directSearchSql(
      filters,
      "bridge.events",
      `${SEARCH_KEY_COLUMNS}, e.event_embedding`,
    ),
    keys: directSearchSql(filters, "bridge.events", SEARCH_KEY_COLUMNS),
  };
  const fetched: number[] = [], computed: number[] = [];
  for (const vector of vectors) {
    const exec: Record<string, number> = {};
    for (const [name, text] of Object.entries(variants)) {
      await reset(db.supabaseAdmin, "extensions");
      await db.supabaseAdmin.begin(async (tx) => {
        await tx`set local enable_sort = off`;
        await tx.unsafe(text, searchParams(vector, 10, filters));
      });
      const [run] = (await statements(db.supabaseAdmin, "extensions")).filter((s) =>
        s.query.includes("from bridge.events e")
      );
      exec[name] = run.exec;
    }
    fetched.push(exec.embedding - exec.keys);
    computed.push(exec.distance - exec.embedding);
  }
  return {
    "of which: fetching and parsing the 10 embeddings (paired foreign scans)": quantile(
      fetched,
      0.5,
    ),
    "of which: the local distance (paired foreign scans)": quantile(computed, 0.5),
  };
}

/** Runs `calls` traced calls, a progress bar for them, and returns their summary. */
async function traced(label: string, db: Connections, calls: [string, (string | number)[]][]) {
  const bar = progress(label, calls.length);
  const measured: Traced[] = [];
  for (const [statement, params] of calls) {
    measured.push(await tracedCall(db, statement, params));
    bar.update(measured.length);
  }
  const summary = summarizeCalls(measured);
  bar.finish(`client p50 ${summary.client.toFixed(2)} ms, ${summary.roundTrips} round trips`);
  // The last call's statements: the first may include postgres_fdw's session set-up.
  return { ...summary, example: measured[measured.length - 1].nodeStatements };
}

function record(
  run: PartsRun,
  id: string,
  title: string,
  summary: Awaited<ReturnType<typeof traced>>,
  extra: Record<string, number> = {},
) {
  const parts = { ...summary.parts, ...extra };
  run.report.breakdowns.push({
    id,
    title,
    client: summary.client,
    roundTrips: summary.roundTrips,
    nodeStatements: summary.example,
    parts: Object.entries(parts).map(([part, ms]) => ({ part, ms })),
  });
  run.report.metric(`${id}_client_ms`, summary.client);
  run.report.metric(`${id}_round_trips`, summary.roundTrips);
  for (const [part, ms] of Object.entries(parts)) {
    run.report.metric(`${id}_${part.replace(/ \(.*$/, "").replace(/\W+/g, "_")}_ms`, ms);
  }
}

/**
 * Breaks down the 3-day-window search and mission_activity for 1 and 10 missions (with and
 * without its window), `count` calls each, into report.breakdowns and `<id>_<part>_ms` metrics.
 */
export async function callBreakdowns(run: PartsRun) {
  const vectors = run.vectors.slice(0, run.count);
  const lastDays: SearchFilters = {
    from: new Date(run.until.getTime() - 3 * 24 * 3600 * 1000).toISOString(),
  };
  const search = await traced(
    "parts: search, last 3 days",
    run.db,
    vectors.map((v) => [bridgeSearchSql(lastDays), searchParams(v, 10, lastDays)]),
  );
  record(
    run,
    "parts_search_window",
    "search k=10, last 3 days",
    search,
    await embeddingParts(run.db, vectors, lastDays),
  );
  for (const window of [undefined, activityWindow(run.until)]) {
    for (const size of [1, 10]) {
      const sets = missionIdSets(FIRST_MISSION_ID, run.missions, size, run.count);
      const suffix = window ? "_window" : "";
      const summary = await traced(
        `parts: mission_activity, ${size}${suffix}`,
        run.db,
        sets.map((ids) => [bridgeActivitySql(window), activityParams(ids, MAX_ROWS, window)]),
      );
      record(
        run,
        `parts_activity_${size}${suffix}`,
        `mission_activity, ${size} mission${size > 1 ? "s" : ""}` +
          (window ? ", one-week window" : ""),
        summary,
      );
    }
  }
}
