/** What every doctor check shares: what it finds, and how it leaves nothing behind. */
import type postgres from "postgres";
import type { Node } from "./nodes.ts";

export type Sql = postgres.Sql;
export type Transaction = postgres.TransactionSql;

/** What a check found. `fix` says what to do, and is set only on failure. */
export interface Finding {
  ok: boolean;
  detail: string;
  fix?: string;
}

/** One line of the doctor's report. */
export interface CheckResult extends Finding {
  name: string;
}

export const pass = (detail: string): Finding => ({ ok: true, detail });

export const fail = (detail: string, fix: string): Finding => ({ ok: false, detail, fix });

/** The fix for whatever the bridge's migrations create. */
export const applyMigrations = "apply the migrations: npx supabase db push";

/** An error no check foresaw, as a failed finding that carries it. */
export const unexpected = (error: unknown): Finding =>
  fail(describeError(error), "an unexpected error: see the detail");

/** A database error on one line: libpq breaks a failed connection's message over lines. */
export function describeError(error: unknown): string {
  const e = error as { message?: string; detail?: string; hint?: string };
  return [e.message ?? String(error), e.detail, e.hint].filter(Boolean).join(" — ")
    .replace(/\s*\n\s*/g, " ");
}

const rollback = Symbol("rollback");

/**
 * Runs `fn` in a transaction that is always rolled back, so scratch schemas, probe writes and
 * role switches vanish whatever happens (postgres_fdw aborts its remote transaction with it).
 */
export async function rolledBack<T>(sql: Sql, fn: (tx: Transaction) => Promise<T>): Promise<T> {
  let result: T | undefined;
  await sql.begin(async (tx) => {
    result = await fn(tx);
    throw rollback;
  }).catch((error) => {
    if (error !== rollback) throw error;
  });
  return result as T;
}

/** What a check of one node works with. */
export interface OnNode {
  /** The node's rolled-back transaction. */
  tx: Transaction;
  node: Node;
  /** The scratch schema holding the node's catalogs as foreign tables of the same names. */
  catalog: string;
  /** Every bridge table some node holds rows of, e.g. bridge.events. */
  held: Set<string>;
  /** Every node relation some node's foreign table reads, e.g. export.events. */
  read: Set<string>;
}
