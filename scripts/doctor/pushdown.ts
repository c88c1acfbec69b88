/**
 * Pushdown: a representative call of each RPC, made once, sends its filters, ordering, limit or
 * grouping to each node, read from the Remote SQL of that node's foreign scan (scripts/plans.ts):
 * from auto_explain's plans of the real call or, where auto_explain cannot be loaded, from the
 * plan the RPC's step gives of its own statement (`explain_only => true`).
 */
import {
  type ForeignScan,
  foreignScansIn,
  foreignScansOfNotice,
  logPlans,
  shortened,
} from "../plans.ts";
import {
  describeError,
  fail,
  type Finding,
  pass,
  rolledBack,
  type Sql,
  type Transaction,
} from "./check.ts";
import type { Node } from "./nodes.ts";
import { type Arguments, type Probe, probes, representativeArguments } from "./probes.ts";

/** The doctor's session on the Supabase database and the notices raised on it. */
export interface Session {
  sql: Sql;
  /** Notices (auto_explain plans among them) since the last `notices.length = 0`. */
  notices: string[];
}

/** How the plans were read; the report says which. */
export type PlanMethod = "auto_explain" | "explain";

/**
 * Logs this transaction's plans, and makes it service_role's as PostgREST and the Edge
 * Functions do (set local role, JWT claims): it may call every RPC and sees every mission.
 */
async function logCallsAsServiceRole(tx: Transaction) {
  await logPlans(tx);
  await tx.unsafe("set local role service_role");
  await tx`select set_config('request.jwt.claims', '{"role": "service_role"}', true)`;
}

/**
 * auto_explain needs LOAD and its superuser-only settings: allowed for the local stack's
 * postgres, usually not for a hosted project's. The calls are made as service_role, so that
 * too must be allowed. Probed once, in a rolled-back transaction.
 */
export async function availableMethod(sql: Sql): Promise<PlanMethod> {
  return await rolledBack(sql, logCallsAsServiceRole)
    .then(() => "auto_explain" as const, () => "explain" as const);
}

/** The foreign scans of the probe's call: of the call itself, or of its plan when `explained`. */
async function scansOf(session: Session, probe: Probe, args: Arguments, explained: boolean) {
  return await rolledBack(session.sql, async (tx): Promise<ForeignScan[]> => {
    if (!explained) {
      await logCallsAsServiceRole(tx);
      session.notices.length = 0;
      const [statement, params] = probe.call(args);
      await tx.unsafe(statement, params as never[]);
      return session.notices.flatMap(foreignScansOfNotice);
    }
    const [statement, params] = probe.explain(args).step;
    const [row] = await tx.unsafe(statement, params as never[]);
    const plans = row.plan as { Plan: Parameters<typeof foreignScansIn>[0] }[];
    return plans.flatMap((p) => foreignScansIn(p.Plan));
  });
}

/** One probe's call: how its plans were read, and its foreign scans or the error it raised. */
export interface ProbeRun {
  probe: Probe;
  how: string;
  scans?: ForeignScan[];
  error?: unknown;
}

/**
 * Makes each probe's call and reads its foreign scans: by `method`, or by default auto_explain
 * when it can be loaded. The activity call needs visible missions, else it is explained.
 */
export async function runProbes(session: Session, method?: PlanMethod): Promise<ProbeRun[]> {
  const chosen = method ?? await availableMethod(session.sql);
  const args = await representativeArguments(session.sql);
  const runs: ProbeRun[] = [];
  for (const probe of probes) {
    const explained = chosen === "explain" ||
      (probe.rpc === "mission_activity" && args.missionIds.length === 0);
    const how = explained
      ? `EXPLAIN of the statement public.${probe.rpc} runs${
        chosen === "auto_explain" ? " (no missions to call it with)" : ""
      }`
      : `auto_explain of a call of public.${probe.rpc}`;
    try {
      runs.push({ probe, how, scans: await scansOf(session, probe, args, explained) });
    } catch (error) {
      runs.push({ probe, how, error });
    }
  }
  return runs;
}

/**
 * The probe's call sent the node one foreign scan whose Remote SQL carries everything the probe
 * expects; a node holding no rows of the table the RPC reads is not asked.
 */
export function checkPushdown(run: ProbeRun, node: Node, held: Set<string>): Finding {
  const { probe, how } = run;
  const reapply = `re-apply the migration that defines public.${probe.rpc} (supabase/migrations/)`;
  if (!run.scans) {
    return fail(
      `the representative call failed: ${describeError(run.error)}`,
      "see the failed checks above (server, pgvector, drift)",
    );
  }
  if (!node.tables.some((t) => t.serves === probe.reads) && held.has(probe.reads)) {
    return pass(`${node.name} holds no rows of ${probe.reads}, which public.${probe.rpc} reads`);
  }
  const remoteSql = run.scans
    .filter((scan) => scan.relations.some((r) => node.tables.some((t) => t.name === r)))
    .map((scan) => scan.remoteSql);
  if (remoteSql.length !== 1) {
    return fail(
      `expected one foreign scan, found ${remoteSql.length} (${how})`,
      reapply,
    );
  }
  const missing = probe.expected.filter((e) => !e.pattern.test(remoteSql[0]));
  return missing.length === 0
    ? pass(`Remote SQL carries ${probe.expected.map((e) => e.what).join(", ")} (${how})`)
    : fail(
      `Remote SQL lacks ${missing.map((e) => e.what).join(", ")} (${how}): ` +
        shortened(remoteSql[0]),
      // Not the fixes of parts that only follow from another (LIMIT ships only with ORDER BY).
      [
        ...new Set(
          missing.filter((e) => !missing.some((m) => m.what === e.needs))
            .map((e) => e.fix ?? reapply),
        ),
      ].join("; "),
    );
}
