/**
 * The Remote SQL postgres_fdw sends for an RPC, read two ways (scripts/plans.ts): from
 * auto_explain's plans of the real call, or, where auto_explain cannot be loaded, from the plan
 * the RPC's step gives of its own statement (`explain_only => true`).
 */
import {
  explainForeignScans,
  type ForeignScan,
  foreignScansIn,
  foreignScansOfNotice,
  logPlans,
} from "../plans.ts";
import { rolledBack, type Sql, type Transaction } from "./check.ts";

/** The doctor's session on the Supabase database and the notices raised on it. */
export interface Session {
  sql: Sql;
  /** Notices (auto_explain plans among them) since the last `notices.length = 0`. */
  notices: string[];
}

/** The role the real calls are made as: it may call every RPC and sees every mission. */
const callerRole = "service_role";

/** How the plans were read; the report says which. */
export type PlanMethod = "auto_explain" | "explain";

/**
 * auto_explain needs LOAD and its superuser-only settings: allowed for the local stack's
 * postgres, usually not for a hosted project's. The calls are made as service_role, so that
 * too must be allowed. Probed once, in a rolled-back transaction.
 */
export async function availableMethod(sql: Sql): Promise<PlanMethod> {
  try {
    await rolledBack(sql, async (tx) => {
      await logPlans(tx);
      await tx.unsafe(`set local role ${callerRole}`);
    });
    return "auto_explain";
  } catch {
    return "explain";
  }
}

/**
 * Runs `call` as service_role (as PostgREST and the Edge Functions do: set local role, JWT
 * claims) with auto_explain on, and returns every foreign scan it ran.
 */
export async function scansOfCall(
  session: Session,
  call: (tx: Transaction) => Promise<unknown>,
): Promise<ForeignScan[]> {
  return await rolledBack(session.sql, async (tx) => {
    await logPlans(tx);
    await tx.unsafe(`set local role ${callerRole}`);
    await tx`select set_config('request.jwt.claims', ${
      JSON.stringify({ role: callerRole })
    }, true)`;
    session.notices.length = 0;
    await call(tx);
    return session.notices.flatMap(foreignScansOfNotice);
  });
}

/**
 * EXPLAIN (VERBOSE) of `statement` under the planner settings the RPC's function sets
 * (`settings`, e.g. enable_sort = off), returning its foreign scans.
 */
export async function scansOfExplain(
  sql: Sql,
  statement: string,
  settings: string[],
): Promise<ForeignScan[]> {
  return await rolledBack(sql, async (tx) => {
    for (const setting of settings) await tx.unsafe(`set local ${setting}`);
    return await explainForeignScans(tx, statement);
  });
}

/**
 * The foreign scans in the plan an RPC's step gives of the statement it runs: `statement`
 * selects the step's `plan` column, called with `explain_only => true`.
 */
export async function scansOfStep(
  sql: Sql,
  statement: string,
  params: unknown[],
): Promise<ForeignScan[]> {
  return await rolledBack(sql, async (tx) => {
    const [row] = await tx.unsafe(statement, params as never[]);
    const plans = row.plan as { Plan: Parameters<typeof foreignScansIn>[0] }[];
    return plans.flatMap((plan) => foreignScansIn(plan.Plan));
  });
}
