/**
 * Pushdown: a representative call of each RPC sends its filters, ordering, limit or grouping to
 * the node, read from the Remote SQL; and the local statistics those decisions rest on exist.
 */
import { type CheckResult, describeError, fail, pass, type Session } from "./check.ts";
import type { ForeignTable } from "./foreign_tables.ts";
import {
  type Arguments,
  type Expectation,
  type Probe,
  probes,
  representativeArguments,
} from "./probes.ts";
import { availableMethod, type PlanMethod, remoteSqlOfCall } from "./plans.ts";
import { shortened } from "../plans.ts";

/** The fixes for what is missing, leaving out those of parts that only follow from another. */
function fixesFor(missing: Expectation[]): string {
  const roots = missing.filter((e) => !e.needs || !missing.some((m) => m.what === e.needs));
  return [...new Set(roots.map((e) => e.fix))].join("; ");
}

/** Reads the Remote SQL of one probe by `method`; the activity call needs visible missions. */
async function remoteSqlOf(session: Session, probe: Probe, args: Arguments, method: PlanMethod) {
  const explained = method === "explain" ||
    (probe.rpc === "mission_activity" && args.missionIds.length === 0);
  const remoteSql = explained
    ? await probe.explain(session.sql, args)
    : await remoteSqlOfCall(session, (tx) => probe.call(tx, args));
  const how = explained
    ? `EXPLAIN of the statement public.${probe.rpc} runs${
      method === "auto_explain" ? " (no missions to call it with)" : ""
    }`
    : `auto_explain of a call of public.${probe.rpc}`;
  return { remoteSql, how };
}

/**
 * One line per RPC: its representative call's Remote SQL carries everything `expected` lists.
 * `method` forces a way of reading plans; by default auto_explain when it can be loaded.
 */
export async function checkPushdown(
  session: Session,
  method?: PlanMethod,
): Promise<CheckResult[]> {
  const chosen = method ?? await availableMethod(session.sql);
  const args = await representativeArguments(session.sql);
  const results: CheckResult[] = [];
  for (const probe of probes) {
    const name = `pushdown ${probe.rpc}`;
    try {
      const { remoteSql, how } = await remoteSqlOf(session, probe, args, chosen);
      if (remoteSql.length !== 1) {
        results.push(fail(
          name,
          `expected one foreign scan, found ${remoteSql.length} (${how})`,
          `re-apply the migration defining public.${probe.rpc}`,
        ));
        continue;
      }
      const missing = probe.expected.filter((e) => !e.pattern.test(remoteSql[0]));
      results.push(
        missing.length === 0
          ? pass(
            name,
            `Remote SQL carries ${probe.expected.map((e) => e.what).join(", ")} (${how})`,
          )
          : fail(
            name,
            `Remote SQL lacks ${missing.map((e) => e.what).join(", ")} (${how}): ` +
              shortened(remoteSql[0]),
            fixesFor(missing),
          ),
      );
    } catch (error) {
      results.push(fail(
        name,
        `the representative call failed: ${describeError(error)}`,
        "see the failed checks above (server, pgvector, drift)",
      ));
    }
  }
  return results;
}

/**
 * Every foreign table has local statistics. postgres_fdw decides whether LIMIT and GROUP BY
 * ship from them, and autovacuum never gathers them for foreign tables.
 */
export function checkStatistics(tables: ForeignTable[]): CheckResult {
  const name = "statistics";
  const never = tables.filter((t) => t.reltuples < 0).map((t) => t.name);
  if (never.length > 0) {
    return fail(
      name,
      `never analyzed: ${never.join(", ")}, so the planner guesses their size`,
      `analyze ${tables.map((t) => t.name).join(", ")} (again after large loads; on ` +
        "PostgreSQL 15 this reads each whole remote table, docs/operations.md)",
    );
  }
  return pass(
    name,
    tables.map((t) => `${t.name} ≈ ${Math.round(t.reltuples)} rows`).join(", ") +
      " in local statistics",
  );
}
