/**
 * The doctor's report: each node's checks (a node that does not answer fails only its own
 * lines), then Supabase's grants. With several nodes each line names its node, e.g.
 * `link [events_hot]`, after a `nodes` line listing them and their slices.
 */
import postgres from "postgres";
import { planCollector } from "../plans.ts";
import { checkAccess } from "./access.ts";
import {
  applyMigrations,
  type CheckResult,
  describeError,
  fail,
  type Finding,
  type OnNode,
  rolledBack,
  type Sql,
  unexpected,
} from "./check.ts";
import { checkEncrypted, checkLink, checkReadOnly, checkServer } from "./link.ts";
import {
  checkDrift,
  checkHypertables,
  checkIndex,
  checkPgvector,
  checkPii,
  checkStatistics,
  requiredIndexes,
} from "./node.ts";
import { listNodes, type Node, openNodeCatalog, slicesOf } from "./nodes.ts";
import { checkPushdown, type PlanMethod, type ProbeRun, probes, runProbes } from "./pushdown.ts";

type NodeCheck = (on: OnNode) => Finding | Promise<Finding>;

/** A node's checks by name, in report order. */
const nodeChecks: [string, NodeCheck][] = [
  ["server", checkServer],
  ["link", checkLink],
  ["link encrypted", checkEncrypted],
  ["link read-only", checkReadOnly],
  ["pgvector", checkPgvector],
  ...requiredIndexes.map((index): [string, NodeCheck] => [
    index.check,
    (on) => checkIndex(on, index),
  ]),
  ["hypertables", checkHypertables],
  ["drift", checkDrift],
  ["no PII by name", checkPii],
  ["statistics", checkStatistics],
];
/** The checks that do not read the node through the link, so run while it is down. */
const withoutLink = new Set(["server", "link", "statistics"]);

const notChecked = fail(
  "not checked: the node does not answer through the link",
  "fix `link` first",
);

/** Runs a node's checks in one rolled-back transaction, each in a savepoint of its own. */
async function checkNode(sql: Sql, on: Pick<OnNode, "node" | "held" | "read">) {
  return await rolledBack(sql, async (tx) => {
    const catalog = await openNodeCatalog(tx, on.node.name);
    const results: CheckResult[] = [];
    let linkOk = false;
    for (const [name, run] of nodeChecks) {
      const finding: Finding = !linkOk && !withoutLink.has(name)
        ? notChecked
        : await tx.savepoint((point) => run({ ...on, tx: point, catalog }))
          .catch(unexpected);
      if (name === "link") linkOk = finding.ok;
      results.push({ name, ...finding });
    }
    return { results, linkOk };
  });
}

/** Every node's checks, then its pushdown of each RPC. */
async function checkNodes(
  sql: Sql,
  logged: ReturnType<typeof planCollector>,
  planMethod?: PlanMethod,
): Promise<CheckResult[]> {
  const nodes = await listNodes(sql);
  if (nodes.length === 0) {
    return [{
      name: "server",
      ...fail(
        "schema bridge has no foreign table, so there is no node to check",
        applyMigrations,
      ),
    }];
  }
  const tables = nodes.flatMap((node) => node.tables);
  const held = new Set(tables.map((t) => t.serves));
  const read = new Set(tables.map((t) => `${t.remoteSchema}.${t.remoteTable}`));
  const checked: { node: Node; results: CheckResult[]; linkOk: boolean }[] = [];
  for (const node of nodes) checked.push({ node, ...await checkNode(sql, { node, held, read }) });
  const up = checked.filter((c) => c.linkOk).length;
  // An EXPLAIN contacts no node, so while one is down the others' pushdown is still read.
  const runs: ProbeRun[] = up === 0
    ? []
    : await runProbes(sql, logged, up === nodes.length ? planMethod : "explain");
  const several = nodes.length > 1;
  const lines = checked.flatMap(({ node, results, linkOk }) =>
    [
      ...results,
      ...probes.map((probe, i) => ({
        name: `pushdown ${probe.rpc}`,
        ...(linkOk ? checkPushdown(probe, runs[i], node, held) : notChecked),
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
 * Runs every check on the Supabase database at `url`, as the role that owns the bridge.
 * `planMethod` forces how Remote SQL is read (by default auto_explain where it loads).
 *
 * @example
 * const healthy = (await runDoctor(Deno.env.get("SUPABASE_DB_URL")!)).every((r) => r.ok);
 */
export async function runDoctor(
  url: string,
  options: { planMethod?: PlanMethod } = {},
): Promise<CheckResult[]> {
  const logged = planCollector();
  const sql = postgres(url, {
    max: 1,
    prepare: false,
    connect_timeout: 10,
    // A hung node must not hang the doctor; the server's own connect_timeout bounds connecting.
    connection: { statement_timeout: 60_000, application_name: "fdw-bridge-doctor" },
    onnotice: logged.onnotice,
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
    return [...await checkNodes(sql, logged, options.planMethod), ...await checkAccess(sql)];
  } finally {
    await sql.end();
  }
}
