/**
 * `supabase db lint`, the real CLI, against the stack's Supabase database as a user runs it
 * against a project: plpgsql_check finds nothing at level warning in any function of `bridge` or
 * `public`, so a PL/pgSQL body that names a column, variable or type that does not exist fails
 * here, not on the first call.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { repoRoot } from "../../scripts/stack/config.ts";
import { env } from "../support/fixture.ts";

interface LintIssue {
  level: string;
  message: string;
  statement?: { lineNumber: string; text: string };
  context?: string;
}

Deno.test("supabase db lint reports nothing at level warning in bridge and public", async () => {
  const { code, stdout, stderr } = await new Deno.Command(
    join(repoRoot, "node_modules", ".bin", "supabase"),
    {
      args: [
        ...["db", "lint", `--remote=${env("SUPABASE_DB_URL")}`, "--schema", "bridge,public"],
        ...["--level", "warning", "--fail-on", "none"],
      ],
      cwd: repoRoot,
      env: { NO_COLOR: "1", SUPABASE_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    },
  ).output();
  const [out, err] = [new TextDecoder().decode(stdout), new TextDecoder().decode(stderr)];
  assert.equal(code, 0, `supabase db lint could not run:\n${err}${out}`);
  for (const schema of ["bridge", "public"]) {
    assert.match(err, new RegExp(`Linting schema: ${schema}`), `${schema} was not linted:\n${err}`);
  }
  // The findings are a JSON array, after the CLI's notes on the connection; none means no array.
  const start = out.search(/^\[/m);
  const findings: { function: string; issues: LintIssue[] }[] = start < 0
    ? []
    : JSON.parse(out.slice(start));
  const named = findings.flatMap(({ function: name, issues }) =>
    issues.map((issue) =>
      `${name}, line ${issue.statement?.lineNumber ?? "?"}: ${issue.level}: ${issue.message}` +
      (issue.context ? ` (${issue.context.split("\n")[0]})` : "")
    )
  );
  assert.deepEqual(named, [], `plpgsql_check found:\n${named.join("\n")}`);
});
