/**
 * The doctor's checks in report order. Each runs on its own rolled-back transaction; the ones
 * that read the node are skipped, as failed, when the node does not answer through the link.
 */
import postgres from "postgres";
import { checkEventAccess } from "./access.ts";
import { type CheckResult, describeError, fail, guarded, type Session } from "./check.ts";
import { checkDrift, checkPii } from "./contract.ts";
import { checkExposure } from "./exposure.ts";
import { checkHypertables } from "./hypertables.ts";
import { listForeignTables } from "./foreign_tables.ts";
import { checkEncrypted, checkReadOnly } from "./link_security.ts";
import { checkNodeIndexes, checkPgvector } from "./node.ts";
import type { PlanMethod } from "./plans.ts";
import { checkPushdown, checkStatistics } from "./pushdown.ts";
import { checkLink, checkServer, readServer } from "./server.ts";

export interface DoctorOptions {
  /** How to read Remote SQL; by default auto_explain when it can be loaded, else EXPLAIN. */
  planMethod?: PlanMethod;
}

/** The checks that read the node, named as they report, for when the link is down. */
const nodeChecks = [
  "link encrypted",
  "link read-only",
  "pgvector",
  "node index for search",
  "node index for activity",
  "hypertables",
  "drift",
  "no PII by name",
];
const pushdownChecks = [
  "pushdown search_events",
  "pushdown mission_activity",
  "pushdown event_histogram",
];

const notChecked = (names: string[]) =>
  names.map((name) =>
    fail(name, "not checked: the node does not answer through the link", "fix `link` first")
  );

/** Runs every check on an open session and returns the report's lines, in order. */
export async function runChecks(
  session: Session,
  options: DoctorOptions = {},
): Promise<CheckResult[]> {
  const { sql } = session;
  const server = await readServer(sql);
  const tables = await listForeignTables(sql);
  const link = await checkLink(sql, server);
  const unexpected = "an unexpected error: see the detail";
  const nodeLines = link.ok
    ? [
      ...await guarded("link encrypted", unexpected, () => checkEncrypted(sql, server)),
      ...await guarded("link read-only", unexpected, () => checkReadOnly(sql, server)),
      ...await guarded("pgvector", unexpected, () => checkPgvector(sql)),
      ...await guarded("node indexes", unexpected, () => checkNodeIndexes(sql, tables)),
      ...await guarded("hypertables", unexpected, () => checkHypertables(sql, tables)),
      ...await guarded("drift", unexpected, () => checkDrift(sql, tables)),
      ...await guarded("no PII by name", unexpected, () => checkPii(sql, tables)),
    ]
    : notChecked(nodeChecks);
  const pushdownLines = link.ok
    ? await guarded("pushdown", unexpected, () => checkPushdown(session, options.planMethod))
    : notChecked(pushdownChecks);
  return [
    checkServer(server),
    link,
    ...nodeLines,
    checkStatistics(tables),
    ...pushdownLines,
    ...await guarded("not exposed to API roles", unexpected, () => checkExposure(sql)),
    ...await guarded("event access", unexpected, () => checkEventAccess(sql)),
  ];
}

/** The report's only line when the Supabase database cannot be reached: nothing was checked. */
export const unreachableCheck = "database";

/**
 * Connects to the Supabase database at `url` (as the role that owns the bridge, normally
 * postgres), runs every check and disconnects.
 *
 * @example
 * const results = await runDoctor(Deno.env.get("SUPABASE_DB_URL")!);
 * const healthy = results.every((r) => r.ok);
 */
export async function runDoctor(url: string, options: DoctorOptions = {}): Promise<CheckResult[]> {
  const notices: string[] = [];
  const sql = postgres(url, {
    max: 1,
    prepare: false,
    connect_timeout: 10,
    // A hung node must not hang the doctor; the server's own connect_timeout bounds connecting.
    connection: { statement_timeout: 60_000, application_name: "fdw-bridge-doctor" },
    onnotice: (notice) => notices.push(String(notice.message)),
  });
  try {
    await sql`select 1`;
  } catch (error) {
    await sql.end();
    return [fail(
      unreachableCheck,
      `cannot connect to the Supabase database: ${describeError(error)}`,
      "pass the project's connection string: npm run doctor -- --db-url 'postgresql://postgres:...'",
    )];
  }
  try {
    return await runChecks({ sql, notices }, options);
  } finally {
    await sql.end();
  }
}
