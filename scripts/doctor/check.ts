/**
 * What every doctor check shares: the shape of what it finds, and the rule that a check leaves
 * nothing behind (each runs in a transaction that is rolled back).
 */
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

/** One line of the doctor's report: a check's name and what it found. */
export interface CheckResult extends Finding {
  name: string;
}

export const pass = (detail: string): Finding => ({ ok: true, detail });

export const fail = (detail: string, fix: string): Finding => ({ ok: false, detail, fix });

/** Fails naming every problem found, with `fix`; passes with `passed` when there is none. */
export const verdict = (problems: string[], fix: string, passed: () => string): Finding =>
  problems.length > 0 ? fail(problems.join("; "), fix) : pass(passed());

/** An error no check foresaw, as a failed finding that carries it. */
export const unexpected = (error: unknown): Finding =>
  fail(describeError(error), "an unexpected error: see the detail");

/**
 * A database error as one line: message, then detail and hint when the server gave them (libpq
 * breaks a failed connection's message over lines).
 */
export function describeError(error: unknown): string {
  const e = error as { message?: string; detail?: string; hint?: string };
  return [e.message ?? String(error), e.detail, e.hint].filter(Boolean).join(" — ")
    .replace(/\s*\n\s*/g, " ");
}

const rollback = Symbol("rollback");

/**
 * Runs `fn` in a transaction and always rolls it back, so scratch schemas, probe writes and
 * role switches vanish whatever happens. DDL is transactional in PostgreSQL, and postgres_fdw
 * aborts its remote transaction with the local one.
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
  /** The node's rolled-back transaction, holding its scratch catalog. */
  tx: Transaction;
  node: Node;
  /** The scratch schema where the node's catalogs are foreign tables of the same names. */
  catalog: string;
  /** Every bridge table some node holds rows of, e.g. bridge.events. */
  held: Set<string>;
  /** Every node relation some node's foreign table reads, e.g. export.events. */
  read: Set<string>;
}
