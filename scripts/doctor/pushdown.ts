/**
 * Pushdown: a representative call of each RPC, made once, sends its filters, ordering, limit or
 * grouping to each node, read from the Remote SQL of that node's foreign scan.
 */
import { type ForeignScan, shortened } from "../plans.ts";
import { describeError, fail, type Finding, pass } from "./check.ts";
import type { Node } from "./nodes.ts";
import { availableMethod, type PlanMethod, scansOfCall, type Session } from "./plans.ts";
import { type Expectation, type Probe, probes, representativeArguments } from "./probes.ts";

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
      const scans = explained
        ? await probe.explain(session.sql, args)
        : await scansOfCall(session, (tx) => probe.call(tx, args));
      runs.push({ probe, how, scans });
    } catch (error) {
      runs.push({ probe, how, error });
    }
  }
  return runs;
}

/** The fixes for what is missing, leaving out those of parts that only follow from another. */
function fixesFor(missing: Expectation[]): string {
  const roots = missing.filter((e) => !e.needs || !missing.some((m) => m.what === e.needs));
  return [...new Set(roots.map((e) => e.fix))].join("; ");
}

/**
 * The probe's call sent the node one foreign scan whose Remote SQL carries everything the probe
 * expects; a node holding no rows of the table the RPC reads is not asked.
 */
export function checkPushdown(run: ProbeRun, node: Node, held: Set<string>): Finding {
  const { probe, how } = run;
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
      `re-apply the migration defining public.${probe.rpc}`,
    );
  }
  const missing = probe.expected.filter((e) => !e.pattern.test(remoteSql[0]));
  return missing.length === 0
    ? pass(`Remote SQL carries ${probe.expected.map((e) => e.what).join(", ")} (${how})`)
    : fail(
      `Remote SQL lacks ${missing.map((e) => e.what).join(", ")} (${how}): ` +
        shortened(remoteSql[0]),
      fixesFor(missing),
    );
}
