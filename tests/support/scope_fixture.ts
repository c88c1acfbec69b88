/**
 * Event scopes for tests: grants for test users (fresh ids, never a seed user's) made in
 * public.event_scopes and removed afterwards, and the questions the events RPCs answer asked
 * directly on the Timescale node with a scope written out, as the link role (same search
 * settings) and with the filter in the shape bridge.events_in_scope sends.
 */
import { type SearchFilters, searchOnNode, type Sql } from "./fixture.ts";

/** Keys a user is granted, by the column of the events they must equal. */
export interface Scope {
  user_token?: string[];
  agent_key?: string[];
  location_key?: string[];
}

/** Grants `scope` to `userId`, committed, so the served functions see it too. */
export async function grantScope(sql: Sql, userId: string, scope: Scope): Promise<void> {
  for (const [kind, keys] of Object.entries(scope)) {
    await sql`
      insert into public.event_scopes (user_id, kind, key)
      select ${userId}::uuid, ${kind}, unnest(${keys}::text[])`;
  }
}

/** Removes every grant of these users. */
export async function revokeScopes(sql: Sql, userIds: string[]): Promise<void> {
  await sql`delete from public.event_scopes where user_id = any(${userIds}::uuid[])`;
}

/** The scope as a filter on export.events. */
const inScope = (sql: Sql, scope: Scope) =>
  sql`(user_token = any(${scope.user_token ?? []}::text[])
       or agent_key = any(${scope.agent_key ?? []}::text[])
       or location_key = any(${scope.location_key ?? []}::text[]))`;

/** The k nearest events within `scope`, searched on the node. */
export const nodeSearch = (
  reader: Sql,
  embedding: string,
  k: number,
  scope: Scope,
  f: SearchFilters = {},
) => searchOnNode(reader, embedding, k, f, { also: inScope(reader, scope) });

/** Event counts per bucket and type within `scope`, grouped on the node. */
export function nodeHistogram(reader: Sql, bucket: string, from: Date, to: Date, scope: Scope) {
  return reader`
    select date_bin(${bucket}::interval, event_time, ${from}) as bucket_start, event_type,
           count(*) as events
      from export.events
     where event_time >= ${from} and event_time < ${to} and ${inScope(reader, scope)}
     group by 1, 2 order by 1, 2`;
}

/** A search row as a comparable string. */
export const searchKey = (row: Record<string, unknown>) =>
  `${(row.event_time as Date).toISOString()}|${row.user_token}|${row.location_key}|` +
  (row.distance as number).toFixed(9);

/** A histogram row as a comparable string. */
export const histogramKey = (row: Record<string, unknown>) =>
  `${(row.bucket_start as Date).toISOString()}|${row.event_type}|${row.events}`;
