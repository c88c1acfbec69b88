/**
 * What deploying needs: supabase/config.toml declares every function with its entrypoint and
 * its own deno.json, which holds only imports pinned as package.json pins them; each function
 * bundles with that deno.json alone; and the committed database types match the schema the
 * migrations make.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { repoRoot } from "../../scripts/stack/config.ts";
import { env } from "../support/fixture.ts";

const bin = (name: string) => join(repoRoot, "node_modules", ".bin", name);
const typesFile = "functions/_shared/database.types.ts";

async function output(cmd: string, args: string[], stdin?: string): Promise<string> {
  const child = new Deno.Command(cmd, {
    args,
    cwd: repoRoot,
    env: { NO_COLOR: "1", SUPABASE_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1" },
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder();
  assert.equal(code, 0, `${cmd} ${args[0]} failed:\n${text.decode(stderr)}`);
  return text.decode(stdout);
}

const functionNames = [...Deno.readDirSync(join(repoRoot, "functions"))]
  .filter((entry) => entry.isDirectory && !entry.name.startsWith("_"))
  .map((entry) => entry.name)
  .sort();

Deno.test("config.toml declares each function with its entrypoint and its own deno.json", () => {
  const config = Deno.readTextFileSync(join(repoRoot, "supabase", "config.toml"));
  const declared = [...config.matchAll(/^\[functions\.([a-z0-9-]+)\]\n((?:[a-z_]+ = .*\n?)*)/gm)];
  assert.deepEqual(declared.map(([, name]) => name).sort(), functionNames);
  const pinned: Record<string, string> = JSON.parse(
    Deno.readTextFileSync(join(repoRoot, "package.json")),
  ).dependencies;
  for (const [, name, body] of declared) {
    assert.match(body, new RegExp(`^entrypoint = "\\.\\./functions/${name}/index\\.ts"$`, "m"));
    assert.match(body, new RegExp(`^import_map = "\\.\\./functions/${name}/deno\\.json"$`, "m"));
    assert.match(body, /^verify_jwt = false$/m);
    const denoJson = JSON.parse(
      Deno.readTextFileSync(join(repoRoot, "functions", name, "deno.json")),
    );
    assert.deepEqual(Object.keys(denoJson), ["imports"], `${name}/deno.json holds only imports`);
    for (const [specifier, target] of Object.entries(denoJson.imports)) {
      assert.equal(target, `npm:${specifier}@${pinned[specifier]}`, `${name}: ${specifier}`);
    }
  }
});

Deno.test("each function bundles into one module for deploy", async () => {
  const out = Deno.makeTempDirSync({ prefix: "functions-bundle-" });
  try {
    for (const name of functionNames) {
      const file = join(out, `${name}.js`);
      await output(bin("deno"), [
        "bundle",
        "--no-lock",
        "--config",
        `functions/${name}/deno.json`,
        "--platform",
        "deno",
        "-o",
        file,
        `functions/${name}/index.ts`,
      ]);
      assert.match(
        Deno.readTextFileSync(file),
        /export \{\s*\w+ as default\s*\}|export default/,
        name,
      );
    }
  } finally {
    Deno.removeSync(out, { recursive: true });
  }
});

Deno.test("the committed database types match the stack's schema", async () => {
  // sslmode=disable: the local node has no TLS, and the CLI would print its warning into the
  // types otherwise.
  const url = new URL(env("SUPABASE_DB_URL"));
  url.searchParams.set("sslmode", "disable");
  const generated = await output(bin("supabase"), [
    "gen",
    "types",
    "typescript",
    `--remote=${url}`,
  ]);
  const formatted = await output(bin("deno"), ["fmt", "--ext", "ts", "-"], generated);
  assert.equal(
    formatted,
    Deno.readTextFileSync(join(repoRoot, typesFile)),
    `${typesFile} is stale: regenerate it with\n  supabase gen types typescript ` +
      `--remote="$SUPABASE_DB_URL?sslmode=disable" > ${typesFile} && deno fmt ${typesFile}`,
  );
});
