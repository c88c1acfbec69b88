/**
 * The doctor's checks in report order: the checks of each node (each foreign server the bridge
 * reads), then the checks of Supabase's own grants. A node that does not answer through the
 * link fails its own lines; the other nodes are still checked. With one node the lines carry the
 * checks' bare names; with several, each names its node, e.g. `link [events_hot]`, after a
 * `nodes` line listing the nodes and their slices.
 */
import postgres from "postgres";
import { planCollector } from "../plans.ts";
import { checkAccess } from "./access.ts";
import {
  type CheckResult,
  describeError,
  fail,
  type Finding,
  type OnNode,
  rolledBack,
  type Sql,
  unexpected,
} from "./check.ts";
import { checkDrift, checkPii, checkStatistics } from "./contract.ts";
import { checkEncrypted, checkLink, checkReadOnly, checkServer } from "./link.ts";
import { checkHypertables, checkIndex, checkPgvector, requiredIndexes } from "./node.ts";
import { listNodes, type Node, openNodeCatalog, slicesOf } from "./nodes.ts";
import {
  checkPushdown,
  type PlanMethod,
  type Plans,
  type ProbeRun,
  probes,
  runProbes,
} from "./pushdown.ts";

/** The checks of one node, in report order; those that read the node run only once `link` passed. */
const nodeChecks: {
  name: string;
  needsLink?: boolean;
  run: (on: OnNode) => Finding | Promise<Finding>;
}[] = [
  { name: "server", run: checkServer },
  { name: "link", run: checkLink },
  { name: "link encrypted", needsLink: true, run: checkEncrypted },
  { name: "link read-only", needsLink: true, run: checkReadOnly },
  { name: "pgvector", needsLink: true, run: checkPgvector },
  ...requiredIndexes.map((index) => ({
    name: index.check,
    needsLink: true,
    run: (on: OnNode) => checkIndex(on, index),
  })),
  { name: "hypertables", needsLink: true, run: checkHypertables },
  { name: "drift", needsLink: true, run: checkDrift },
  { name: "no PII by name", needsLink: true, run: checkPii },
  { name: "statistics", run: checkStatistics },
];

const notChecked = fail(
  "not checked: the node does not answer through the link",
  "fix `link` first",
);

/**
 * Runs every check of `node` in one rolled-back transaction, which holds the node's scratch
 * catalog, each check in a savepoint so that one check's error never hides the others' lines.
 */
async function checkNode(sql: Sql, node: Node, everyNode: Pick<OnNode, "held" | "read">) {
  return await rolledBack(sql, async (tx) => {
    const on: OnNode = { tx, node, ...everyNode, catalog: await openNodeCatalog(tx, node.name) };
    const results: CheckResult[] = [];
    let linkOk = false;
    for (const { name, needsLink, run } of nodeChecks) {
      const finding: Finding = needsLink && !linkOk
        ? notChecked
        : await tx.savepoint((point) => run({ ...on, tx: point })).catch(unexpected);
      if (name === "link") linkOk = finding.ok;
      results.push({ name, ...finding });
    }
    return { results, linkOk };
  });
}

/**
 * The lines of every node: its checks, then its pushdown of each RPC; with several nodes, each
 * line names its node, after a `nodes` line.
 */
async function checkNodes(sql: Sql, plans: Plans, planMethod?: PlanMethod) {
  const nodes = await listNodes(sql);
  if (nodes.length === 0) {
    return [{
      name: "server",
      ...fail(
        "schema bridge has no foreign table, so there is no node to check",
        "apply the migrations: npx supabase db push",
      ),
    }];
  }
  const tables = nodes.flatMap((node) => node.tables);
  const held = new Set(tables.map((t) => t.serves));
  const read = new Set(tables.map((t) => `${t.remoteSchema}.${t.remoteTable}`));
  const checked = [];
  for (const node of nodes) checked.push({ node, ...await checkNode(sql, node, { held, read }) });
  const up = checked.filter((c) => c.linkOk).length;
  // An EXPLAIN contacts no node, so while one is down the others' pushdown is still read.
  const runs: ProbeRun[] = up === 0
    ? []
    : await runProbes(sql, plans, up === nodes.length ? planMethod : "explain");
  const several = nodes.length > 1;
  const lines = checked.flatMap(({ node, results, linkOk }) =>
    [
      ...results,
      ...probes.map((probe, i) => ({
        name: `pushdown ${probe.rpc}`,
        ...(linkOk ? checkPushdown(runs[i], node, held) : notChecked),
      })),
    ].map((r) => several ? { ...r, name: `${r.name} [${node.name}]` } : r)
  );
  if (!several && slicesOf(nodes[0]) === "no slice") return lines;
  const listed = nodes.map((node) => `${node.name} (${slicesOf(node)})`).join(", ");
  return [{ name: "nodes", ok: true, detail: listed }, ...lines];
}

/** The report's only line when the Supabase database cannot be reached: nothing was checked. */
export const unreachableCheck = "database";

/**
 * Connects to the Supabase database at `url` (as the role that owns the bridge, normally
 * postgres), runs every check and disconnects. `planMethod` forces how Remote SQL is read; by
 * default auto_explain when it can be loaded, else EXPLAIN.
 *
 * @example
 * const results = await runDoctor(Deno.env.get("SUPABASE_DB_URL")!);
 * const healthy = results.every((r) => r.ok);
 */
export async function runDoctor(
  url: string,
  options: { planMethod?: PlanMethod } = {},
): Promise<CheckResult[]> {
  const plans = planCollector();
  const sql = postgres(url, {
    max: 1,
    prepare: false,
    connect_timeout: 10,
    // A hung node must not hang the doctor; the server's own connect_timeout bounds connecting.
    connection: { statement_timeout: 60_000, application_name: "fdw-bridge-doctor" },
    onnotice: plans.onnotice,
  });
  try {
    await sql`select 1`;
  } catch (error) {
    await sql.end();
    return [{
      name: unreachableCheck,
      ...fail(
        `cannot connect to the Supabase database: ${describeError(error)}`,
        "pass the project's connection string: npm run doctor -- --db-url 'postgresql://postgres:...'",
      ),
    }];
  }
  try {
    return [...await checkNodes(sql, plans, options.planMethod), ...await checkAccess(sql)];
  } finally {
    await sql.end();
  }
}
