/**
 * The Remote SQL postgres_fdw sends for an RPC, read two ways (scripts/plans.ts): from
 * auto_explain's plans of the real call, or, where auto_explain cannot be loaded, from the plan
 * the RPC's step gives of its own statement (`explain_only => true`).
 */
import { foreignScansIn, foreignScansOfNotice, logPlans } from "../plans.ts";
import { rolledBack, type Session, type Sql } from "./check.ts";

/** The role the real calls are made as: it may call every RPC and sees every mission. */
export const callerRole = "service_role";

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
 * claims) with auto_explain on, and returns the Remote SQL of every foreign scan it ran.
 */
export async function remoteSqlOfCall(
  session: Session,
  call: (tx: Sql) => Promise<unknown>,
): Promise<string[]> {
  return await rolledBack(session.sql, async (tx) => {
    await logPlans(tx);
    await tx.unsafe(`set local role ${callerRole}`);
    await tx`select set_config('request.jwt.claims', ${
      JSON.stringify({ role: callerRole })
    }, true)`;
    session.notices.length = 0;
    await call(tx);
    return session.notices.flatMap(foreignScansOfNotice).map((scan) => scan.remoteSql);
  });
}

/**
 * The Remote SQL in the plan an RPC's step gives of the statement it runs: `statement` selects
 * the step's `plan` column, called with `explain_only => true`.
 */
export async function remoteSqlOfStep(
  sql: Sql,
  statement: string,
  params: unknown[],
): Promise<string[]> {
  return await rolledBack(sql, async (tx) => {
    const [row] = await tx.unsafe(statement, params as never[]);
    const plans = row.plan as { Plan: Parameters<typeof foreignScansIn>[0] }[];
    return plans.flatMap((plan) => foreignScansIn(plan.Plan)).map((scan) => scan.remoteSql);
  });
}
