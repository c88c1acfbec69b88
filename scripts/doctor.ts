/**
 * `npm run doctor -- --db-url <Supabase connection string> [--json]`: checks a deployed bridge
 * from the Supabase side only (the node is read through the link) and prints one line per
 * check with the fix for each failure. Without --db-url it reads SUPABASE_DB_URL. Exit codes:
 * 0 every check passed, 1 a check failed, 2 the doctor could not run (bad arguments, no
 * database given, the database unreachable, or an error while reading the catalogs). Connect
 * as the role that owns the bridge (postgres); the doctor leaves nothing behind: every probe
 * runs in a transaction that is rolled back.
 */
import { parseArgs } from "node:util";
import { runDoctor, unreachableCheck } from "./doctor/run.ts";

const usage = "usage: npm run doctor -- --db-url <postgresql://postgres:...@host:5432/postgres> " +
  "[--json]\n(without --db-url, SUPABASE_DB_URL is used)";

/** Says why the doctor could not run, and exits 2. */
function cannotRun(message: string): never {
  console.error(`doctor: ${message}`);
  Deno.exit(2);
}

let options;
try {
  options = parseArgs({
    args: Deno.args,
    options: {
      "db-url": { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  }).values;
} catch (error) {
  cannotRun(`${(error as Error).message}\n${usage}`);
}
if (options.help) {
  console.log(usage);
  Deno.exit(0);
}
const url = options["db-url"] ?? Deno.env.get("SUPABASE_DB_URL");
if (!url) cannotRun(`no database given\n${usage}`);
// Only reading the catalogs can fail here (each check catches its own errors).
const results = await runDoctor(url).catch((error) => cannotRun(error.message));
const failed = results.filter((r) => !r.ok).length;
if (options.json) {
  const report = { ok: failed === 0, passed: results.length - failed, failed, checks: results };
  console.log(JSON.stringify(report, null, 2));
} else {
  // `ok` or `FAIL`, the check, what was found; an indented `fix:` under each failure.
  const target = new URL(url);
  const width = Math.max(...results.map((r) => r.name.length)) + 2;
  console.log(`fdw-bridge doctor: ${target.username}@${target.host}${target.pathname}\n`);
  for (const r of results) {
    console.log(`${r.ok ? "ok  " : "FAIL"}  ${r.name.padEnd(width)}${r.detail}`);
    if (r.fix) console.log(`${" ".repeat(6 + width)}fix: ${r.fix}`);
  }
  console.log(`${results.length - failed} passed, ${failed} failed`);
}
Deno.exit(results.some((r) => r.name === unreachableCheck) ? 2 : failed === 0 ? 0 : 1);
