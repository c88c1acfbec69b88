/**
 * What postgres_fdw sent to the node for a statement, read from the plans PostgreSQL made for it:
 * the Remote SQL of every foreign scan and, when analyzed, the rows each returned. One module
 * for the tests, the doctor and the benchmark.
 *
 * The real calls are read through auto_explain, which logs every plan of a session, nested
 * statements included (the RPCs run their foreign scans in dynamic SQL inside functions), as a
 * NOTICE in JSON. Where auto_explain cannot be loaded (a hosted project), the plan each RPC's
 * step gives of its own statement (`explain_only => true`) has the same Remote SQL without the
 * rows.
 */
import type postgres from "postgres";

// Plans are read on a connection or inside a transaction.
type Sql = postgres.Sql | postgres.TransactionSql;

/**
 * One foreign scan: the SQL it sent, the rows it returned (undefined unless analyzed), and the
 * foreign tables it read, as "schema.table" (known only from a VERBOSE plan).
 */
export interface ForeignScan {
  remoteSql: string;
  rows?: number;
  relations: string[];
  /** Whether it ran asynchronously, beside its siblings (EXPLAIN's `Async Foreign Scan`). */
  async: boolean;
}

interface PlanNode {
  "Node Type": string;
  "Actual Rows"?: number;
  "Actual Loops"?: number;
  "Remote SQL"?: string;
  "Async Capable"?: boolean;
  Schema?: string;
  "Relation Name"?: string;
  /** A pushed-down join or aggregate's tables, e.g. `Aggregate on (bridge.events e)`. */
  Relations?: string;
  Plans?: PlanNode[];
}

/** Every foreign scan of a plan tree (EXPLAIN (FORMAT JSON)'s `Plan`), top-down. */
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

/** The foreign scans of one auto_explain notice in JSON; none for any other notice. */
export function foreignScansOfNotice(message: string): ForeignScan[] {
  const start = message.indexOf("{");
  if (!message.startsWith("duration:") || start < 0) return [];
  return foreignScansIn(JSON.parse(message.slice(start)).Plan);
}

/**
 * Collects the plans auto_explain logs as notices on one connection: pass `onnotice` to
 * postgres() when opening it, call {@link logPlans} in the transaction to read, then `take()`.
 *
 * @example
 * const plans = planCollector();
 * const sql = postgres(url, { onnotice: plans.onnotice });
 * await sql.begin(async (tx) => { await logPlans(tx); await tx`select ...`; });
 * const scans = plans.take();
 */
export function planCollector() {
  let scans: ForeignScan[] = [];
  return {
    onnotice(notice: postgres.Notice) {
      scans.push(...foreignScansOfNotice(String(notice.message)));
    },
    /** The foreign scans logged since the last take, in the order they finished. */
    take(): ForeignScan[] {
      const taken = scans;
      scans = [];
      return taken;
    },
  };
}

/**
 * Loads auto_explain and has it log every plan of this transaction, nested ones included, as a
 * JSON NOTICE; with `analyze`, each node's actual rows too. auto_explain's settings are
 * superuser-only, so call it before `set local role`.
 */
export async function logPlans(tx: Sql, { analyze = false } = {}) {
  await tx.unsafe("load 'auto_explain'");
  for (
    const setting of [
      "auto_explain.log_min_duration = 0",
      "auto_explain.log_nested_statements = on",
      "auto_explain.log_verbose = on",
      "auto_explain.log_format = json",
      "auto_explain.log_level = notice",
      `auto_explain.log_analyze = ${analyze ? "on" : "off"}`,
      "auto_explain.log_timing = off",
    ]
  ) await tx.unsafe(`set local ${setting}`);
}

/** Remote SQL with vector literals shortened, for a readable report. */
export const shortened = (remoteSql: string) =>
  remoteSql.replace(/'\[[-0-9.,e]+\]'/g, (v) => `'[…${v.split(",").length} numbers]'`);
