/**
 * What the bridge must answer, found on a Timescale node by the tests alone: exact scans of the
 * node's own tables (public.events and public.activity_log, not the export views the bridge
 * reads) with index scans off, so neither an approximate index nor a plan the bridge pushes down
 * shapes the expected answer. A caller's scope is written here from the rows of
 * public.event_scopes, in a form of its own, never in the shape the bridge sends. Rows carry the
 * columns, and the names, the RPCs return. On the tests' dataset the bridge's approximate search
 * finds the exact top-k (docs/design.md § iterative scans keep k rows under a filter).
 */
import assert from "node:assert/strict";
import type { SearchFilters, Sql } from "./fixture.ts";

/** A row of public.event_scopes: events whose column `kind` equals `key` are in scope. */
export interface Grant {
  kind: string;
  key: string;
}

/** Every grant of `userId`, read from public.event_scopes on the Supabase node. */
export async function grantsOf(supabase: Sql, userId: string): Promise<Grant[]> {
  const rows = await supabase`
    select kind, key from public.event_scopes where user_id = ${userId}::uuid order by 1, 2`;
  return rows.map(({ kind, key }) => ({ kind, key }));
}

/** Runs `fn` in a transaction on `node` whose plans use no index: sequential scans only. */
export function exactly<T>(node: Sql, fn: (tx: Sql) => Promise<T>): Promise<T> {
  return node.begin(async (tx) => {
    for (const setting of ["enable_indexscan", "enable_indexonlyscan", "enable_bitmapscan"]) {
      await tx.unsafe(`set local ${setting} = off`);
    }
    return await fn(tx as unknown as Sql);
  }) as Promise<T>;
}

/** Whether event `e` is in scope: some grant names its column's value. `null`: no scope. */
function inScope(sql: Sql, grants: Grant[] | null) {
  if (grants === null) return sql`true`;
  return sql`exists (
    select from json_to_recordset(${JSON.stringify(grants)}::text::json) as g(kind text, key text)
     where g.key = case g.kind when 'user_token' then e.user_token
                               when 'agent_key' then e.agent_key
                               when 'location_key' then e.location_key end)`;
}

/** The `k` events nearest `embedding` that pass the filters and the scope, by exact distance. */
export function exactSearch(
  node: Sql,
  embedding: string,
  k: number,
  f: SearchFilters = {},
  grants: Grant[] | null = null,
) {
  return exactly(node, (tx) => {
    const distance = tx`e.event_embedding operator(extensions.<=>) ${embedding}::extensions.vector`;
    return tx`
      select e.event_time, e.user_token, e.agent_key, e.device_key, e.location_key, e.event_type,
             e.data_payload_proc, ${distance} as distance
        from public.events e
       where e.event_embedding is not null and ${inScope(tx, grants)}
         and (${f.event_types ?? null}::text[] is null or e.event_type = any(${
      f.event_types ?? null
    }))
         and (${f.user_token ?? null}::text is null or e.user_token = ${f.user_token ?? null})
         and (${f.agent_key ?? null}::text is null or e.agent_key = ${f.agent_key ?? null})
         and (${f.device_key ?? null}::text is null or e.device_key = ${f.device_key ?? null})
         and (${f.location_key ?? null}::text is null or e.location_key = ${f.location_key ?? null})
         and (${f.time_from ?? null}::timestamptz is null or e.event_time >= ${f.time_from ?? null})
         and (${f.time_to ?? null}::timestamptz is null or e.event_time < ${f.time_to ?? null})
         and (${f.max_distance ?? null}::float8 is null or ${distance} <= ${f.max_distance ?? null})
       order by ${distance}
       limit ${k}`;
  });
}

/** Events per bucket of `bucket` from `from` and event type, within the scope and the types. */
export function exactHistogram(
  node: Sql,
  bucket: string,
  from: Date | string,
  to: Date | string,
  grants: Grant[] | null = null,
  event_types: string[] | null = null,
) {
  return exactly(node, (tx) =>
    tx`
    select date_bin(${bucket}::interval, e.event_time, ${from}::timestamptz) as bucket_start,
           e.event_type, count(*) as events
      from public.events e
     where e.event_time >= ${from}::timestamptz and e.event_time < ${to}::timestamptz
       and (${event_types}::text[] is null or e.event_type = any(${event_types}))
       and ${inScope(tx, grants)}
     group by 1, 2 order by 1, 2`);
}

/**
 * The activity of `missions`, newest first, rows of one instant in the order the RPC documents
 * (mission, agent, action, details), at most `limit` of them.
 */
export function exactActivity(
  node: Sql,
  missions: number[],
  { from = null, to = null, limit = null }: {
    from?: Date | string | null;
    to?: Date | string | null;
    limit?: number | null;
  } = {},
) {
  return exactly(node, (tx) =>
    tx`
    select a.mission_id, a.event_time, a.agent_id, a.action, a.details
      from public.activity_log a
     where a.mission_id = any(${missions}::bigint[])
       and (${from}::timestamptz is null or a.event_time >= ${from}::timestamptz)
       and (${to}::timestamptz is null or a.event_time < ${to}::timestamptz)
     order by a.event_time desc, a.mission_id, a.agent_id, a.action, a.details
     limit ${limit}`);
}

/**
 * A row as one comparable string of the `columns` named (by default all of its own): times as
 * ISO strings, fractions to 9 places (a distance computed on either side of the link), whole
 * numbers and numeric strings alike, JSON as text.
 */
export function rowKey(row: Record<string, unknown>, columns = Object.keys(row)): string {
  const value = (v: unknown) =>
    v instanceof Date
      ? v.toISOString()
      : typeof v === "number"
      ? Number.isInteger(v) ? String(v) : v.toFixed(9)
      : typeof v === "object" && v !== null
      ? JSON.stringify(v)
      : String(v);
  return columns.map((column) => `${column}=${value(row[column])}`).join("|");
}

/**
 * Asserts `actual` holds the rows of `expected`, in order, equal in every column `expected` has
 * (`actual` may have more, such as the outcome the node does not hold).
 */
export function assertSameRows(
  actual: readonly Record<string, unknown>[],
  expected: readonly Record<string, unknown>[],
  message?: string,
) {
  const columns = Object.keys(expected[0] ?? actual[0] ?? {});
  assert.deepEqual(
    actual.map((row) => rowKey(row, columns)),
    expected.map((row) => rowKey(row, columns)),
    message,
  );
}
