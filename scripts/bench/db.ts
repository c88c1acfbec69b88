/**
 * The benchmark's connections, and what it asks them. Each bridge call is written once, as an app
 * calls the RPC; what the bridge sends the node is never written here: it is the Remote SQL of
 * the plan the RPC's own step gives (`explain_only => true`), taken for the very call. Statements
 * the bridge does NOT send (reference plans, the naive server, foreign scans for the breakdown)
 * are the benchmark's own and say so where they are written.
 */
import postgres from "postgres";
import { type ForeignScan, scansOfStepPlan } from "../plans.ts";
import { mulberry32 } from "../seed/random.ts";

/** The Supabase user the scoped search runs as (its grants are made and removed by the bench). */
export const BENCH_USER_ID = "00000000-0000-4000-8000-0000000be0c4";

/**
 * One long-lived connection with its session's settings, the kind every variant gets, so
 * connection setup is never timed and the bridge's connection to the node (cached per backend
 * session) is reused as an app's pool reuses it. It connects on its first query. Unnamed
 * statements (prepare: false): postgres_fdw plans its remote statement afresh each time too, so
 * both variants of a comparison pay for planning alike.
 */
export const open = (url: string, settings: Record<string, string> = {}) =>
  postgres(url, {
    max: 1,
    prepare: false,
    onnotice: () => {},
    // Long enough for the naive search, which pulls every row across the link.
    idle_timeout: 0,
    connection: { application_name: "fdw-bridge-bench", ...settings },
  });

/**
 * The link role's session as postgres_fdw's is planned. postgres_fdw reads every result through
 * a cursor, and PostgreSQL never runs a cursor's plan in parallel; a plain query may take a
 * parallel plan, and for the 5% type filter on the full dataset that is an exact scan where the
 * cursor searches the HNSW index: another answer, and a slower one (docs/design.md § cursors
 * never run in parallel). A client standing in for the bridge plans without parallel workers, so
 * it gets the bridge's plan.
 */
export const PLANNED_AS_THE_BRIDGE = { max_parallel_workers_per_gather: "0" };

/** The benchmark's connections, by what they are for. */
export function openConnections(env: Record<string, string>) {
  const claims = JSON.stringify({ role: "authenticated", sub: BENCH_USER_ID });
  return {
    /** Supabase as service_role: the RPCs as an app's server-side call makes them. */
    rpc: open(env.SUPABASE_DB_URL, { role: "service_role" }),
    /** Supabase as a signed-in user, as PostgREST and the Edge Functions run their calls. */
    scoped: open(env.SUPABASE_DB_URL, { role: "authenticated", "request.jwt.claims": claims }),
    /** The Timescale node as bridge_reader over TLS: the bridge's statements run directly. */
    direct: open(env.BRIDGE_READER_URL, PLANNED_AS_THE_BRIDGE),
    /** The same, exact: the scan takes longer than the link role's 15 s bound on full data. */
    exact: open(env.BRIDGE_READER_URL, { enable_indexscan: "off", statement_timeout: "120s" }),
    /** Supabase as postgres: the naive server, scopes, pg_stat_statements. */
    admin: open(env.SUPABASE_DB_URL),
    /** Supabase as service_role, pg_stat_statements tracking nested statements and planning. */
    traced: open(env.SUPABASE_DB_URL, {
      "pg_stat_statements.track": "all",
      "pg_stat_statements.track_planning": "on",
      role: "service_role",
    }),
    /** The Timescale node as postgres: query vectors, versions, pg_stat_statements. */
    node: open(env.TIMESCALE_DB_URL),
  };
}

export type Connections = ReturnType<typeof openConnections>;

export const closeConnections = (db: Connections) =>
  Promise.all(Object.values(db).map((sql) => sql.end({ timeout: 5 })));

/** A call of a bridge RPC: as an app makes it, the step that explains it, and its parameters. */
export interface Call {
  rpc: string;
  step: string;
  params: (string | null)[];
}

/** The filters the benchmark searches with, as ISO times and array literals. */
export interface SearchFilters {
  eventTypes?: string;
  from?: string;
}

export const searchCall = (vector: string, filters: SearchFilters = {}): Call => ({
  rpc: "select * from public.search_events(query_embedding => $1::extensions.vector, " +
    "match_count => 10, event_types => $2::text[], time_from => $3::timestamptz)",
  step: "select plan from bridge.nearest_events($1::extensions.vector, 10, $2::text[], " +
    "null, null, null, null, $3::timestamptz, null, null, explain_only => true)",
  params: [vector, filters.eventTypes ?? null, filters.from ?? null],
});

/** The page mission_activity is asked for: its default, the newest 100 rows. */
export const PAGE_ROWS = 100;

/**
 * mission_activity's newest PAGE_ROWS rows of the missions `ids`, within [from, to) if given.
 * Its step is given the ids as asked: the RPC passes it those the caller may see, and the
 * benchmark calls as service_role, who sees every mission.
 */
export const activityCall = (ids: string, window: string[] = []): Call => ({
  rpc: "select * from public.mission_activity(mission_ids => $1::bigint[], " +
    `time_from => $2::timestamptz, time_to => $3::timestamptz, max_rows => ${PAGE_ROWS})`,
  step: "select plan from bridge.mission_activity_rows($1::bigint[], $2::timestamptz, " +
    `$3::timestamptz, null, ${PAGE_ROWS}, null, null, explain_only => true)`,
  params: [ids, window[0] ?? null, window[1] ?? null],
});

export const histogramCall = (bucket: string, from: string, to: string): Call => ({
  rpc: "select * from public.event_histogram(bucket => $1::interval, " +
    "time_from => $2::timestamptz, time_to => $3::timestamptz)",
  step: "select plan from bridge.event_counts($1::interval, $2::timestamptz, $3::timestamptz, " +
    "null, explain_only => true)",
  params: [bucket, from, to],
});

/** Runs a call through the bridge, as the role of the connection `sql`. */
export const viaBridge = (sql: postgres.Sql, call: Call) => sql.unsafe(call.rpc, call.params);

/** The foreign scans of the plan the call's step gives of its own statement (as service_role). */
export async function stepScans(sql: postgres.Sql, call: Call): Promise<ForeignScan[]> {
  const [{ plan }] = await sql.unsafe(call.step, call.params);
  return scansOfStepPlan(plan);
}

/** A call, and the statement the bridge sends the node for it: its one foreign scan's SQL. */
export interface Prepared {
  call: Call;
  remote: string;
}

/** Reads each call's Remote SQL from its step's plan (as service_role), before any timing. */
export async function prepare(db: Connections, calls: Call[]): Promise<Prepared[]> {
  const prepared = [];
  for (const call of calls) {
    const scans = await stepScans(db.rpc, call);
    if (scans.length !== 1) throw new Error(`expected one foreign scan, got ${scans.length}`);
    prepared.push({ call, remote: scans[0].remoteSql });
  }
  return prepared;
}

/**
 * The caller's scope as the events statements' init plans pass it to the node ($1 sees every
 * event, $2..$4 the granted user tokens, agents and locations): a user's granted `tokens`, or
 * without them service_role's, who sees every event.
 */
export const scopeParams = (tokens?: string) => [tokens === undefined, tokens ?? "{}", "{}", "{}"];

/**
 * A statement a step sends through dblink answers its rows as one jsonb array (bridge.ask_nodes):
 * this selects them as rows of `rowType`, the export view they were read from.
 *
 * @example
 * await onNode(sql, asRows(remote, "export.activity_log"));
 */
export const asRows = (statement: string, rowType: string) =>
  `select r.* from jsonb_populate_recordset(null::${rowType}, (${statement})) r`;

/** A value as a quoted SQL literal; the statement's own cast (`$1::boolean`) types it. */
const literal = (value: unknown) => `'${String(value).replace(/'/g, "''")}'`;

/**
 * Runs a Remote SQL statement on a node connection, the scope written in as literals where it
 * takes one ($1..$4), so it is sent in one round trip as postgres_fdw sends it: postgres.js sends
 * a statement with parameters in two, asking the node for their types first. The node plans
 * either alike: an unnamed statement is planned with its parameters' values.
 */
export const onNode = (
  sql: postgres.Sql | postgres.TransactionSql,
  text: string,
  scope = scopeParams(),
) =>
  sql.unsafe<postgres.Row[]>(
    text.replace(/\$(\d+)\b/g, (_, n) => {
      if (Number(n) > scope.length) throw new Error(`the statement takes $${n}: not a scope`);
      return literal(scope[Number(n) - 1]);
    }),
  );

/**
 * `count` unit query vectors as pgvector literals: stored embeddings spread evenly over time,
 * each moved by random noise (norm 0.15) so no query is itself a stored row, as a new user
 * query would not be.
 */
export async function queryVectors(sql: postgres.Sql, count: number): Promise<string[]> {
  const rows = await sql.unsafe<{ v: string }[]>(
    `select e.event_embedding::text as v
       from public.events e
      where e.event_time in (
        select event_time from (
          select event_time, row_number() over (order by event_time) as r, count(*) over () as n
            from public.events where event_embedding is not null) s
         where (r - 1) % greatest(n / $1, 1) = 0)
      order by e.event_time
      limit $1`,
    [count],
  );
  if (rows.length === 0) throw new Error("no events to take query vectors from: seed first");
  const random = mulberry32(7);
  const gaussian = () => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return rows.map(({ v }) => {
    const values: number[] = JSON.parse(v);
    const sigma = 0.15 / Math.sqrt(values.length);
    const moved = values.map((x) => x + sigma * gaussian());
    const norm = Math.hypot(...moved);
    return `[${moved.map((x) => (x / norm).toFixed(6)).join(",")}]`;
  });
}

/** `count` sets of `size` distinct mission ids from first..first+missions-1, as array literals. */
export function missionIdSets(first: number, missions: number, size: number, count: number) {
  const random = mulberry32(size);
  return Array.from({ length: count }, () => {
    const ids = new Set<number>();
    while (ids.size < Math.min(size, missions)) ids.add(first + Math.floor(random() * missions));
    return `{${[...ids].join(",")}}`;
  });
}

/** A search row's identity: the export view has no key, these columns together are one. */
export const rowKey = (row: postgres.Row) =>
  `${row.event_time.getTime()}|${row.user_token}|${row.agent_key}|${row.device_key}`;

/** A list of rows' identity, in order. */
export const rowsKey = (rows: unknown) => (rows as postgres.Row[]).map(rowKey).join();
