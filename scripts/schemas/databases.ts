/**
 * Databases built from supabase/migrations/ (with `supabase db push`, as users apply them) and
 * from supabase/schemas/ (the files in the order supabase/config.toml lists them), and the two
 * ways to compare them: `supabase db diff` and the catalog (catalog.sql). Both start from the
 * stand-in for the Supabase platform, as the stack does.
 */
import { join } from "node:path";
import { repoRoot } from "../stack/config.ts";
import { pgBin, psql, run } from "../stack/postgres.ts";

const supabaseCli = join(repoRoot, "node_modules", ".bin", "supabase");
const telemetryOff = { SUPABASE_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1" };

/** supabase/schemas/ files in the order `[db.migrations] schema_paths` of config.toml gives. */
export function schemaFiles(): string[] {
  const config = Deno.readTextFileSync(join(repoRoot, "supabase", "config.toml"));
  const list = config.match(/^schema_paths\s*=\s*\[([^\]]*)\]/m)?.[1];
  if (!list) throw new Error("supabase/config.toml has no [db.migrations] schema_paths");
  return [...list.matchAll(/"([^"]+)"/g)].map((match) => join(repoRoot, "supabase", match[1]));
}

/** `name` made anew on the cluster `adminUrl` reaches, with the platform stand-in; its URL. */
export async function freshDatabase(adminUrl: string, name: string, authenticatorPassword: string) {
  await dropDatabase(adminUrl, name);
  await psql(adminUrl, `create database ${name}`);
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  const platform = join(repoRoot, "scripts", "stack", "supabase-platform.sql");
  await psql(url.href, "", {
    file: platform,
    vars: { authenticator_password: authenticatorPassword },
  });
  return url.href;
}

export const dropDatabase = (adminUrl: string, name: string) =>
  psql(adminUrl, `drop database if exists ${name} with (force)`);

export const pushMigrations = (url: string) =>
  run(supabaseCli, ["db", "push", `--remote=${url}`, "--yes"], { env: telemetryOff });

export async function applySchemas(url: string) {
  for (const file of schemaFiles()) await psql(url, "", { file });
}

/** What `supabase db diff` says turns `from` into `to`: empty when they are the same. */
export async function schemaDiff(from: string, to: string): Promise<string> {
  const output = await Deno.makeTempFile({ suffix: ".sql" });
  try {
    await run(supabaseCli, ["db", "diff", "--from", from, "--to", to, "-o", output], {
      env: telemetryOff,
    });
    return Deno.readTextFileSync(output).trim();
  } finally {
    await Deno.remove(output);
  }
}

/** Each object of the bridge by kind and name (`function bridge.x(...)`), with its definition. */
export async function catalogOf(url: string): Promise<Map<string, string>> {
  const file = join(repoRoot, "scripts", "schemas", "catalog.sql");
  // NUL between fields and rows: definitions span lines.
  const printed = await run(join(pgBin(), "psql"), [
    url,
    "-X",
    "-v",
    "ON_ERROR_STOP=1",
    "-Atz0",
    "-f",
    file,
  ]);
  const fields = printed.split("\0");
  const catalog = new Map<string, string>();
  for (let i = 0; i + 2 < fields.length; i += 3) {
    catalog.set(`${fields[i]} ${fields[i + 1]}`, fields[i + 2]);
  }
  return catalog;
}

/** The objects whose definition differs between two catalogs, or that only one has. */
export function catalogDifferences(from: Map<string, string>, to: Map<string, string>): string[] {
  const names = [...new Set([...from.keys(), ...to.keys()])].sort();
  return names.flatMap((name) => {
    if (!to.has(name)) return [`${name}: only in the first`];
    if (!from.has(name)) return [`${name}: only in the second`];
    return from.get(name) === to.get(name) ? [] : [`${name}: defined differently`];
  });
}
