/**
 * What postgres_fdw sent to the node, for the tests, the doctor and the benchmark: the Remote SQL
 * of every foreign scan in a plan and, when analyzed, the rows each returned. The real calls are
 * read through auto_explain, which logs every plan as a JSON NOTICE, nested statements included
 * (the RPCs run their foreign scans in dynamic SQL). Where it cannot be loaded (a hosted
 * project), each RPC's step explains its own statement (`explain_only => true`): the same Remote
 * SQL without the rows.
 */
import type postgres from "postgres";

/**
 * One foreign scan: the SQL it sent, the rows it returned (undefined unless analyzed), the
 * foreign tables it read as "schema.table" (known only from a VERBOSE plan), and whether it ran
 * asynchronously beside its siblings (EXPLAIN's `Async Foreign Scan`).
 */
export interface ForeignScan {
  remoteSql: string;
  rows?: number;
  relations: string[];
  async: boolean;
}

/** A node of EXPLAIN (FORMAT JSON)'s `Plan` tree, as far as it is read here. */
interface PlanNode {
  "Remote SQL"?: string;
  "Actual Rows"?: number;
  "Actual Loops"?: number;
  "Async Capable"?: boolean;
  Schema?: string;
  "Relation Name"?: string;
  /** A pushed-down join or aggregate's tables, e.g. `Aggregate on (bridge.events e)`. */
  Relations?: string;
  Plans?: PlanNode[];
}

/** Every foreign scan of a plan tree, top-down. */
export function foreignScansIn(node: PlanNode): ForeignScan[] {
  const own: ForeignScan[] = node["Remote SQL"] === undefined ? [] : [{
    remoteSql: node["Remote SQL"],
    rows: node["Actual Rows"] === undefined
      ? undefined
      : node["Actual Rows"] * (node["Actual Loops"] ?? 1),
    relations: node["Relation Name"]
      ? [`${node.Schema}.${node["Relation Name"]}`]
      : [...(node.Relations ?? "").matchAll(/\(([^\s()]+)[^()]*\)/g)].map((m) => m[1]),
    async: node["Async Capable"] === true,
  }];
  return [...own, ...(node.Plans ?? []).flatMap(foreignScansIn)];
}

/** One node's statement as a step that asks through dblink lists it (`{ "Nodes": [...] }`). */
interface NodeStatement {
  Node: string;
  Server: string;
  Relation: string;
  "Remote SQL": string;
}

/**
 * What a step's `explain_only` plan says it sends, as foreign scans: an EXPLAIN's (the events
 * steps, through postgres_fdw), or one per node statement of a step that asks through dblink
 * (mission_activity_rows), which sends every node its statement before it reads any answer, so
 * each counts as asked at once.
 *
 * @example
 * const [{ plan }] = await sql`select plan from bridge.event_counts(..., explain_only => true)`;
 * const remoteSql = scansOfStepPlan(plan).map((scan) => scan.remoteSql);
 */
export function scansOfStepPlan(plan: unknown): ForeignScan[] {
  if (Array.isArray(plan)) return plan.flatMap((explained) => foreignScansIn(explained.Plan));
  const { Nodes: nodes = [] } = plan as { Nodes?: NodeStatement[] };
  return nodes.map((node) => ({
    remoteSql: node["Remote SQL"],
    relations: [node.Relation],
    async: true,
  }));
}

/** The foreign scans of one auto_explain notice in JSON; none for any other notice. */
function foreignScansOfNotice(message: string): ForeignScan[] {
  const start = message.indexOf("{");
  if (!message.startsWith("duration:") || start < 0) return [];
  return foreignScansIn(JSON.parse(message.slice(start)).Plan);
}

/**
 * Collects the plans auto_explain logs on one connection; `take()` returns the foreign scans
 * logged since the last take, in the order they finished.
 *
 * @example
 * const plans = planCollector();
 * const sql = postgres(url, { onnotice: plans.onnotice });
 * await sql.begin(async (tx) => { await logPlans(tx); await tx`select ...`; });
 * const scans = plans.take();
 */
export function planCollector() {
  const scans: ForeignScan[] = [];
  return {
    onnotice: (notice: postgres.Notice) => scans.push(...foreignScansOfNotice(notice.message)),
    take: () => scans.splice(0),
  };
}

/**
 * Loads auto_explain and has it log every plan of this transaction, nested ones included, as a
 * JSON NOTICE; with `analyze`, each node's actual rows too. auto_explain's settings are
 * superuser-only, so call it before `set local role`.
 */
export async function logPlans(tx: Pick<postgres.Sql, "unsafe">, { analyze = false } = {}) {
  await tx.unsafe(`
    load 'auto_explain';
    set local auto_explain.log_min_duration = 0;
    set local auto_explain.log_nested_statements = on;
    set local auto_explain.log_verbose = on;
    set local auto_explain.log_format = json;
    set local auto_explain.log_level = notice;
    set local auto_explain.log_analyze = ${analyze ? "on" : "off"};
    set local auto_explain.log_timing = off`);
}

/** Remote SQL with vector literals shortened, for a readable report. */
export const shortened = (remoteSql: string) =>
  remoteSql.replace(/'\[[-0-9.,e]+\]'/g, (v) => `'[…${v.split(",").length} numbers]'`);
