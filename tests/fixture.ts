/**
 * The shared fixture for tests on the two-node stack that `npm test` starts and seeds
 * (scripts/test.ts): connections to both nodes, calls made as an API caller, and the Remote
 * SQL that postgres_fdw sent for a call.
 */
import postgres from "postgres";
import { FIRST_MISSION_ID, seedUserId } from "../scripts/seed/generate.ts";
import { testDataset } from "./dataset.ts";
import { logPlans, planCollector } from "../scripts/plans.ts";
import { timescaleNodeUrl } from "../scripts/stack/lifecycle.ts";

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
  location_key?: string;
  time_from?: Date;
  time_to?: Date;
  max_distance?: number;
}

/** The search through the bridge, public.search_events, as the caller `tx` is. */
export function searchViaBridge(tx: Sql, embedding: string, k: number, f: SearchFilters = {}) {
  return tx`
    select event_time, user_token, agent_key, location_key, event_type, distance
      from public.search_events(${embedding}::extensions.vector, ${k},
        event_types => ${f.event_types ?? null}::text[], user_token => ${f.user_token ?? null},
        agent_key => ${f.agent_key ?? null}, location_key => ${f.location_key ?? null},
        time_from => ${f.time_from ?? null}, time_to => ${f.time_to ?? null},
        max_distance => ${f.max_distance ?? null})`;
}

/**
 * The same search answered on a Timescale node with no code of the bridge: the k rows of
 * `table` nearest `embedding` that pass the filters and `also` (a scope, say), by the distance
 * written out here.
 */
export function searchOnNode(
  sql: Sql,
  embedding: string,
  k: number,
  f: SearchFilters = {},
  { table = "export.events", also = sql`true` }: {
    table?: "export.events" | "public.events";
    also?: postgres.PendingQuery<postgres.Row[]>;
  } = {},
) {
  const distance = sql`event_embedding operator(extensions.<=>) ${embedding}::extensions.vector`;
  return sql`
    select event_time, user_token, agent_key, location_key, event_type, ${distance} as distance
      from ${table === "export.events" ? sql`export.events` : sql`public.events`}
     where event_embedding is not null and ${also}
       and (${f.event_types ?? null}::text[] is null or event_type = any(${f.event_types ?? null}))
       and (${f.user_token ?? null}::text is null or user_token = ${f.user_token ?? null})
       and (${f.agent_key ?? null}::text is null or agent_key = ${f.agent_key ?? null})
       and (${f.location_key ?? null}::text is null or location_key = ${f.location_key ?? null})
       and (${f.time_from ?? null}::timestamptz is null or event_time >= ${f.time_from ?? null})
       and (${f.time_to ?? null}::timestamptz is null or event_time < ${f.time_to ?? null})
       and (${f.max_distance ?? null}::float8 is null or ${distance} <= ${f.max_distance ?? null})
     order by ${distance}
     limit ${k}`;
}

/** A vector literal for SQL, e.g. '[0.1,0.2,...]'. */
export const vectorLiteral = (values: number[]) => `[${values.join(",")}]`;

/** The doctor's lines for one node, in report order, as the doctor tests expect them. */
export const doctorNodeChecks = [
  "server",
  "link",
  "link encrypted",
  "link read-only",
  "pgvector",
  "node index for search",
  "node index for activity",
  "hypertables",
  "drift",
  "no PII by name",
  "statistics",
  "pushdown search_events",
  "pushdown mission_activity",
  "pushdown event_histogram",
];
