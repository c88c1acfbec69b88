/**
 * The Remote SQL postgres_fdw sends for a statement, read two ways: from auto_explain's plans of
 * the real call (nested statements included, so the SQL the RPC builds inside its function),
 * or, where auto_explain cannot be loaded, from EXPLAIN (VERBOSE) of an equivalent statement.
 */
import { rolledBack, type Session, type Sql } from "./check.ts";

/** The role the real calls are made as: it may call every RPC and sees every mission. */
export const callerRole = "service_role";

/** How the plans were read; the report says which. */
export type PlanMethod = "auto_explain" | "explain";

const autoExplainSettings = [
  "auto_explain.log_min_duration = 0",
  "auto_explain.log_nested_statements = on",
  "auto_explain.log_verbose = on",
  "auto_explain.log_level = notice",
];

/** Loads auto_explain and sets it to report every plan of this transaction as a NOTICE. */
async function enableAutoExplain(tx: Sql) {
  await tx.unsafe("load 'auto_explain'");
  for (const setting of autoExplainSettings) await tx.unsafe(`set local ${setting}`);
}

/**
 * auto_explain needs LOAD and its superuser-only settings: allowed for the local stack's
 * postgres, usually not for a hosted project's. The calls are made as service_role, so that
 * too must be allowed. Probed once, in a rolled-back transaction.
 */
export async function availableMethod(sql: Sql): Promise<PlanMethod> {
  try {
    await rolledBack(sql, async (tx) => {
      await enableAutoExplain(tx);
      await tx.unsafe(`set local role ${callerRole}`);
    });
    return "auto_explain";
  } catch {
    return "explain";
  }
}

const remoteSqlOf = (plan: string) =>
  plan.split("\n").filter((line) => line.includes("Remote SQL:")).map((line) =>
    line.replace(/^.*Remote SQL: /, "")
  );

/**
 * Runs `call` as service_role (as PostgREST and the Edge Functions do: set local role, JWT
 * claims) with auto_explain on, and returns the Remote SQL of every foreign scan it ran.
 */
export async function remoteSqlOfCall(
  session: Session,
  call: (tx: Sql) => Promise<unknown>,
): Promise<string[]> {
  return await rolledBack(session.sql, async (tx) => {
    await enableAutoExplain(tx);
    await tx.unsafe(`set local role ${callerRole}`);
    await tx`select set_config('request.jwt.claims', ${
      JSON.stringify({ role: callerRole })
    }, true)`;
    session.notices.length = 0;
    await call(tx);
    return session.notices.flatMap(remoteSqlOf);
  });
}

/** Every "Remote SQL" in an EXPLAIN (FORMAT JSON) plan tree. */
function remoteSqlInPlan(node: Record<string, unknown>): string[] {
  const own = typeof node["Remote SQL"] === "string" ? [node["Remote SQL"] as string] : [];
  const children = (node.Plans as Record<string, unknown>[] | undefined) ?? [];
  return [...own, ...children.flatMap(remoteSqlInPlan)];
}

/**
 * EXPLAIN (VERBOSE) of `statement` under the planner settings the RPC's function sets
 * (`settings`, e.g. enable_sort = off), returning the Remote SQL of its foreign scans.
 */
export async function remoteSqlOfExplain(
  sql: Sql,
  statement: string,
  settings: string[],
): Promise<string[]> {
  return await rolledBack(sql, async (tx) => {
    for (const setting of settings) await tx.unsafe(`set local ${setting}`);
    const [row] = await tx.unsafe(`explain (verbose, format json) ${statement}`);
    const plans = row["QUERY PLAN"] as { Plan: Record<string, unknown> }[];
    return plans.flatMap((p) => remoteSqlInPlan(p.Plan));
  });
}

/** Remote SQL with vector literals shortened, for a readable report. */
export const shortened = (remoteSql: string) =>
  remoteSql.replace(/'\[[-0-9.,e]+\]'/g, (v) => `'[…${v.split(",").length} numbers]'`);
