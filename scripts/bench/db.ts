/**
 * One long-lived connection per variant, so connection setup is never timed and the bridge's
 * postgres_fdw connection (cached per backend session) is reused as an app's pool reuses it.
 * Unnamed statements (prepare: false) on every side: postgres_fdw plans its remote statement
 * afresh each time too, so both variants of a comparison pay for planning alike.
 */
import postgres from "postgres";

/** The benchmark's connections, by what they are for. */
export interface Connections {
  /** Supabase as service_role: the RPCs, as an app's server-side call makes them. */
  rpc: postgres.Sql;
  /** Supabase as the signed-in {@link BENCH_USER_ID}, whose grants scope the events RPCs. */
  scoped: postgres.Sql;
  /** The Timescale node as bridge_reader (TLS): the bridge's statements run directly. */
  direct: postgres.Sql;
  /** The Timescale node as bridge_reader with index scans off: exact nearest neighbours. */
  exact: postgres.Sql;
  /** Supabase as postgres: the naive server's set-up and queries, plan capture. */
  supabaseAdmin: postgres.Sql;
  /**
   * Supabase as service_role, with pg_stat_statements tracking every nested statement and its
   * planning: the calls broken into parts (scripts/bench/parts.ts).
   */
  traced: postgres.Sql;
  /** The Timescale node as postgres: query vectors, versions. */
  timescaleAdmin: postgres.Sql;
}

/** The Supabase user the scoped search runs as (scripts/bench/search.ts grants its scope). */
export const BENCH_USER_ID = "00000000-0000-4000-8000-0000000be0c4";

const open = (url: string) =>
  postgres(url, {
    max: 1,
    prepare: false,
    onnotice: () => {},
    // Long enough for the naive search, which pulls every row across the link.
    idle_timeout: 0,
    connection: { application_name: "fdw-bridge-bench" },
  });

/**
 * Opens every connection and gives each its session settings.
 *
 * @example
 * const db = await openConnections(stack.env);
 * await closeConnections(db);
 */
export async function openConnections(env: Record<string, string>): Promise<Connections> {
  const db: Connections = {
    rpc: open(env.SUPABASE_DB_URL),
    scoped: open(env.SUPABASE_DB_URL),
    direct: open(env.BRIDGE_READER_URL),
    exact: open(env.BRIDGE_READER_URL),
    supabaseAdmin: open(env.SUPABASE_DB_URL),
    traced: open(env.SUPABASE_DB_URL),
    timescaleAdmin: open(env.TIMESCALE_DB_URL),
  };
  // max: 1, so a session setting holds for every later statement on the connection.
  await db.rpc`set role service_role`;
  // As PostgREST and the Edge Functions run a signed-in user's call, for the whole session.
  await db.scoped`set role authenticated`;
  const claims = JSON.stringify({ role: "authenticated", sub: BENCH_USER_ID });
  await db.scoped`select set_config('request.jwt.claims', ${claims}, false)`;
  await db.traced`set pg_stat_statements.track = 'all'`;
  await db.traced`set pg_stat_statements.track_planning = on`;
  await db.traced`set role service_role`;
  // The exact scan needs longer than the link role's 15 s bound on the full dataset.
  await db.exact`set enable_indexscan = off`;
  await db.exact`set statement_timeout = '120s'`;
  return db;
}

/** Closes every connection. */
export async function closeConnections(db: Connections) {
  await Promise.all(Object.values(db).map((sql: postgres.Sql) => sql.end({ timeout: 5 })));
}
