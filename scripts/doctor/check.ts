/**
 * What every doctor check shares: the shape of a result, the connection it runs on, and the
 * rule that a check leaves nothing behind (each runs in a transaction that is rolled back).
 */
import type postgres from "postgres";

export type Sql = postgres.Sql;

/** One line of the doctor's report. `fix` says what to do, and is set only on failure. */
export interface CheckResult {
  name: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

/** The doctor's session on the Supabase database and the notices raised on it. */
export interface Session {
  sql: Sql;
  /** Notices (auto_explain plans among them) since the last `notices.length = 0`. */
  notices: string[];
}

/** The bridge's foreign server, as supabase/migrations/20261125000200_bridge_server.sql names it. */
export const serverName = "events_ts";

export const pass = (name: string, detail: string): CheckResult => ({ name, ok: true, detail });

export const fail = (name: string, detail: string, fix: string): CheckResult => ({
  name,
  ok: false,
  detail,
  fix,
});

const rollback = Symbol("rollback");

/**
 * Runs `fn` in a transaction and always rolls it back, so scratch schemas, probe writes and
 * role switches vanish whatever happens. DDL is transactional in PostgreSQL, and postgres_fdw
 * aborts its remote transaction with the local one.
 *
 * @example
 * const n = await rolledBack(sql, async (tx) => (await tx`select 1 as n`)[0].n);
 */
export async function rolledBack<T>(sql: Sql, fn: (tx: Sql) => Promise<T>): Promise<T> {
  let result: T | undefined;
  try {
    await sql.begin(async (tx) => {
      result = await fn(tx as unknown as Sql);
      throw rollback;
    });
  } catch (error) {
    if (error !== rollback) throw error;
  }
  return result as T;
}

/** A database error as one line: message, then detail and hint when the server gave them. */
export function describeError(error: unknown): string {
  const e = error as { message?: string; detail?: string; hint?: string };
  return [e.message ?? String(error), e.detail, e.hint].filter(Boolean).join(" — ");
}

/**
 * Runs a check, turning an unexpected error into a failed result that carries the error, so
 * one broken probe never hides the other lines of the report.
 */
export async function guarded(
  name: string,
  fix: string,
  check: () => Promise<CheckResult | CheckResult[]>,
): Promise<CheckResult[]> {
  try {
    return [await check()].flat();
  } catch (error) {
    return [fail(name, describeError(error), fix)];
  }
}
