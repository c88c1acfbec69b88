/**
 * What crosses the link per call. The real calls run with auto_explain logging every plan
 * (scripts/plans.ts); each foreign scan gives its actual rows and the Remote SQL it sent. That
 * SQL is then run on the node to size its rows in text form, which is how postgres_fdw fetches
 * them: the plan's width would miss the embeddings, fetched only to compute the distance on
 * Supabase.
 */
import postgres from "postgres";
import { FIRST_MISSION_ID, FIVE_PERCENT_EVENT_TYPE } from "../seed/generate.ts";
import { ACTIVITY_SIZES, MAX_ROWS } from "./activity.ts";
import type { Connections } from "./db.ts";
import { log } from "./progress.ts";
import { naiveTable } from "./naive.ts";
import {
  activityParams,
  bridgeActivitySql,
  bridgeSearchSql,
  directSearchSql,
  missionIdSets,
  type SearchFilters,
  searchParams,
} from "./queries.ts";
import type { LinkTraffic, Report } from "./report.ts";
import { logPlans, planCollector } from "../plans.ts";

/** A call to measure, run as `role` on Supabase once per parameter list. */
interface Probe {
  query: string;
  statement: string;
  calls: (string | number)[][];
  role: "service_role" | "postgres";
  server: "events_ts" | "events_ts_naive";
}

/**
 * Runs each probe's calls (those named in `only`, when given) with auto_explain on and records
 * the mean rows and text bytes its foreign scans fetched per call, with the fetch_size of the
 * server used.
 */
export async function linkTraffic(
  env: Record<string, string>,
  db: Connections,
  report: Report,
  vectors: string[],
  missions: number,
  until: Date,
  only?: string[],
) {
  const plans = planCollector();
  const sql = postgres(env.SUPABASE_DB_URL, { max: 1, prepare: false, onnotice: plans.onnotice });
  try {
    const fetchSizes = await serverFetchSizes(sql);
    const wanted = probes(vectors, missions, until).filter((p) => !only || only.includes(p.query));
    for (const probe of wanted) {
      let rows = 0, bytes = 0;
      for (const params of probe.calls) {
        await sql.begin(async (tx) => {
          await logPlans(tx as unknown as postgres.Sql, { analyze: true });
          await tx.unsafe(`set local role ${probe.role}`);
          await tx.unsafe(probe.statement, params);
        });
        for (const scan of plans.take()) {
          rows += scan.rows ?? 0;
          bytes += await textBytes(db, scan.remoteSql);
        }
      }
      const traffic: LinkTraffic = {
        query: probe.query,
        rows: rows / probe.calls.length,
        bytes: bytes / probe.calls.length,
        fetchSize: fetchSizes[probe.server] ?? 100,
      };
      report.traffic.push(traffic);
      log(
        `link: ${probe.query}: ${traffic.rows} rows, ${Math.round(traffic.bytes)} bytes per call`,
      );
    }
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/**
 * The caller's scope as bridge.events_in_scope sends it, for service_role: $1 sees every event,
 * $2..$4 grant no keys. The probes run as service_role.
 */
export const SERVICE_ROLE_SCOPE = [true, "{}", "{}", "{}"];

/**
 * The text size of the rows a Remote SQL statement returns, run on the node as the link role.
 * The RPCs' dynamic SQL is planned with its parameters' values, so they are inlined as literals;
 * only the caller's scope stays a parameter.
 */
async function textBytes(db: Connections, remoteSql: string): Promise<number> {
  const params = new Set(remoteSql.match(/\$\d+/g) ?? []);
  if (!remoteSql || (params.size > 0 && params.size !== SERVICE_ROLE_SCOPE.length)) return NaN;
  // The naive statement returns every event: longer than the link role's 15 s bound.
  const [{ bytes }] = await db.direct.begin(async (tx) => {
    await tx`set local statement_timeout = '300s'`;
    return await tx.unsafe<{ bytes: string }[]>(
      `select coalesce(sum(octet_length(r::text)), 0) as bytes from (${remoteSql}) r`,
      params.size > 0 ? SERVICE_ROLE_SCOPE : [],
    );
  });
  return Number(bytes);
}

/** Each postgres_fdw server's fetch_size (postgres_fdw's default is 100). */
async function serverFetchSizes(sql: postgres.Sql): Promise<Record<string, number>> {
  const rows = await sql<{ srvname: string; fetch_size: string | null }[]>`
    select s.srvname,
           (select split_part(o, '=', 2) from unnest(s.srvoptions) o where o like 'fetch_size=%')
             as fetch_size
      from pg_catalog.pg_foreign_server s`;
  return Object.fromEntries(rows.map((r) => [r.srvname, Number(r.fetch_size ?? 100)]));
}

function probes(vectors: string[], missions: number, until: Date): Probe[] {
  const from = new Date(until.getTime() - 3 * 24 * 3600 * 1000).toISOString();
  const searches: [string, SearchFilters][] = [
    ["search", {}],
    ["search_filtered", { eventTypes: [FIVE_PERCENT_EVENT_TYPE] }],
    ["search_window", { from }],
  ];
  const five = vectors.slice(0, 5);
  const list: Probe[] = searches.map(([query, filters]) => ({
    query,
    statement: bridgeSearchSql(filters),
    calls: five.map((vector) => searchParams(vector, 10, filters)),
    role: "service_role",
    server: "events_ts",
  }));
  list.push({
    query: "search_naive",
    statement: directSearchSql({}, naiveTable),
    // One is enough: it pulls every event whatever the query.
    calls: [searchParams(vectors[0], 10, {})],
    role: "postgres",
    server: "events_ts_naive",
  });
  for (const size of ACTIVITY_SIZES) {
    list.push({
      query: `activity_${size}`,
      statement: bridgeActivitySql(),
      calls: missionIdSets(FIRST_MISSION_ID, missions, size, 5).map((ids) =>
        activityParams(ids, MAX_ROWS)
      ),
      role: "service_role",
      server: "events_ts",
    });
  }
  return list;
}
