/**
 * The shared fixture for tests on the stack that `npm test` starts and seeds (scripts/test.ts):
 * connections to the Supabase node and the Timescale node, calls made as an API caller, the
 * Remote SQL that postgres_fdw sent for a call, a node stopped for a while, the export views
 * restored, and the link server's options.
 */
import postgres from "postgres";
import { FIRST_MISSION_ID, seedUserId } from "../../scripts/seed/generate.ts";
import { testDataset } from "./dataset.ts";
import { logPlans, planCollector } from "../../scripts/plans.ts";
import { stackConfig } from "../../scripts/stack/config.ts";
import { startNode, stopNode, timescaleNodeUrl } from "../../scripts/stack/lifecycle.ts";

/** A required environment variable, or a clear error saying to run the tests through npm. */
export function env(name: string): string {
  const value = Deno.env.get(name);
  if (!value) throw new Error(`${name} is not set: run the tests with \`npm test\``);
  return value;
}

export type Sql = postgres.Sql;

/** Connections as the superuser of the Supabase node or the Timescale node, or as the link role. */
export function connect(
  node: "supabase" | "timescale" | "reader",
  options: postgres.Options<Record<string, postgres.PostgresType>> = {},
): Sql {
  const url = {
    supabase: env("SUPABASE_DB_URL"),
    timescale: env("TIMESCALE_DB_URL"),
    reader: env("BRIDGE_READER_URL"),
  }[node];
  return postgres(url, { max: 1, prepare: false, onnotice: () => {}, ...options });
}

/** Deno.test for tests holding database connections, which keep timers between tests. */
export function dbTest(name: string, fn: () => Promise<void>) {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

/** The fixture's seed: mission ids and the time the data ends, as scripts/seed.ts makes them. */
export const fixture = {
  firstMissionId: FIRST_MISSION_ID,
  missionCount: testDataset.missions,
  until: new Date(testDataset.until),
};

/** The id of seeded user i (1..20), who owns some of the fixture's missions. */
export { seedUserId };

export type Caller = { role: "anon" | "authenticated" | "service_role"; sub?: string };

/**
 * Runs `fn` in one transaction as PostgREST and our Edge Functions do for that caller:
 * `set local role` and the caller's JWT claims in request.jwt.claims.
 */
export function asCaller<T>(sql: Sql, caller: Caller, fn: (tx: Sql) => Promise<T>): Promise<T> {
  return sql.begin(async (tx) => {
    await asCallerIn(tx as unknown as Sql, caller);
    return fn(tx as unknown as Sql);
  }) as Promise<T>;
}

/** Makes the rest of transaction `tx` run as `caller`. */
export async function asCallerIn(tx: Sql, caller: Caller) {
  await tx.unsafe(`set local role ${caller.role}`);
  await tx`select set_config('request.jwt.claims', ${JSON.stringify(caller)}, true)`;
}

/**
 * What a statement sent the nodes: the SQL of each postgres_fdw foreign scan, with the rows it
 * returned, then each statement a node received on a link session of the caller's backend.
 */
export interface RemoteWork {
  remoteSql: string[];
  foreignScanRows: number[];
}

/**
 * Runs a statement as `caller` with auto_explain logging every plan, nested calls included,
 * and reads the foreign scans from those plans (scripts/plans.ts); then reads, on every node,
 * the last statement each link session of the caller's backend received (statementsReceived).
 */
export async function remoteWorkOf(
  statement: string,
  params: unknown[] = [],
  caller: Caller = { role: "service_role" },
): Promise<RemoteWork> {
  const plans = planCollector();
  const sql = connect("supabase", { onnotice: plans.onnotice });
  let received: string[];
  try {
    const backend = await sql.begin(async (tx) => {
      await logPlans(tx as unknown as Sql, { analyze: true });
      const [{ pid }] = await tx`select pg_backend_pid() as pid`;
      await asCallerIn(tx as unknown as Sql, caller);
      await tx.unsafe(statement, params as never[]);
      return pid as number;
    });
    // Read while the backend lives: its link sessions end with it.
    received = await statementsReceived(sql, backend);
  } finally {
    await sql.end();
  }
  const scans = plans.take();
  return {
    remoteSql: [...scans.map((scan) => scan.remoteSql), ...received],
    foreignScanRows: scans.map((scan) => scan.rows ?? NaN),
  };
}

/**
 * The last statement each node received on the link sessions the Supabase backend `backend`
 * holds (named `fdw-bridge <pid>` on the node), read on the nodes themselves, in the order of
 * bridge.nodes. A statement longer than the node's track_activity_query_size is an error, never
 * a truncated text.
 */
async function statementsReceived(supabase: Sql, backend: number): Promise<string[]> {
  const servers = await supabase`
    select n.server, (select o.option_value from pg_options_to_table(s.srvoptions) o
                       where o.option_name = 'port') as port
      from bridge.nodes n join pg_foreign_server s on s.srvname = n.server
     order by n.name = 'default' desc, n.name`;
  const received: string[] = [];
  for (const { port } of servers) {
    const node = postgres(timescaleNodeUrl(env("TIMESCALE_DB_URL"), Number(port)), {
      max: 1,
      onnotice: () => {},
    });
    try {
      const sessions = await node`
        select query, octet_length(query) >= pg_size_bytes(current_setting('track_activity_query_size')) - 1
                 as truncated
          from pg_stat_activity where application_name = ${`fdw-bridge ${backend}`}`;
      for (const { query, truncated } of sessions) {
        if (truncated) throw new Error(`a node's statement is longer than pg_stat_activity keeps`);
        received.push(query);
      }
    } finally {
      await node.end();
    }
  }
  return received;
}

/** Optional filters of a search, named as public.search_events takes them. */
export interface SearchFilters {
  event_types?: string[];
  user_token?: string;
  agent_key?: string;
  device_key?: string;
  location_key?: string;
  time_from?: Date;
  time_to?: Date;
  max_distance?: number;
}

/** The search through the bridge, public.search_events, as the caller `tx` is: every column. */
export function bridgeSearch(tx: Sql, embedding: string, k: number, f: SearchFilters = {}) {
  return tx`
    select * from public.search_events(${embedding}::extensions.vector, ${k},
      event_types => ${f.event_types ?? null}::text[], user_token => ${f.user_token ?? null},
      agent_key => ${f.agent_key ?? null}, device_key => ${f.device_key ?? null},
      location_key => ${f.location_key ?? null}, time_from => ${f.time_from ?? null},
      time_to => ${f.time_to ?? null}, max_distance => ${f.max_distance ?? null})`;
}

/** A vector literal for SQL, e.g. '[0.1,0.2,...]'. */
export const vectorLiteral = (values: number[]) => `[${values.join(",")}]`;

/**
 * Runs `fn` with the stack's Timescale node `name` stopped (a fast shutdown: open connections
 * are cut), and starts it again afterwards, whether `fn` passed or failed, waiting until it
 * accepts connections.
 */
export async function withNodeStopped<T>(fn: () => Promise<T>, name = "timescale"): Promise<T> {
  await stopNode(stackConfig(), name);
  try {
    return await fn();
  } finally {
    await startNode(stackConfig(), name);
  }
}

/** The export views on the node exactly as sql/timescale/02_export.sql defines them. */
export async function restoreExportViews(timescale: Sql) {
  const exportSql = new URL("../../sql/timescale/02_export.sql", import.meta.url);
  await timescale.unsafe("drop view if exists export.events, export.activity_log");
  await timescale.unsafe(Deno.readTextFileSync(exportSql));
  await timescale.unsafe("grant select on all tables in schema export to bridge_reader");
}

/** The value of one option of the link's server, events_ts, on the Supabase node. */
export async function serverOption(supabase: Sql, name: string): Promise<string> {
  const [{ value }] = await supabase`
    select option_value as value from pg_catalog.pg_options_to_table(
      (select srvoptions from pg_catalog.pg_foreign_server where srvname = 'events_ts'))
     where option_name = ${name}`;
  return value;
}
