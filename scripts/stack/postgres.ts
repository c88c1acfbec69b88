/**
 * Commands the stack runs, psql among them. Clusters run as the `postgres` OS user when we are
 * root: PostgreSQL refuses to run as root.
 */
import { existsSync as exists } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./config.ts";

export const isRoot = Deno.uid() === 0;

type RunOptions = { asClusterOwner?: boolean; env?: Record<string, string> };

/** Runs a command to completion and returns its stdout; throws with its stderr on failure. */
export async function run(cmd: string, args: string[], options: RunOptions = {}): Promise<string> {
  const asOwner = options.asClusterOwner && isRoot;
  const argv = asOwner ? ["runuser", "-u", "postgres", "--", cmd, ...args] : [cmd, ...args];
  const { code, stdout, stderr } = await new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: options.env,
    // The cluster owner may not be allowed into the caller's directory.
    cwd: asOwner ? "/" : repoRoot,
    stdin: "null",
  }).output();
  const text = new TextDecoder();
  if (code !== 0) {
    const detail = (text.decode(stderr) || text.decode(stdout)).trim();
    throw new Error(`${argv.join(" ")} exited with ${code}\n${detail}`);
  }
  return text.decode(stdout);
}

export const succeeds = (cmd: string, args: string[], options?: RunOptions) =>
  run(cmd, args, options).then(() => true, () => false);

/**
 * The newest PostgreSQL (15 or later) bin directory: PG_BIN, else Debian's; or undefined. The
 * Timescale nodes run on it, and its psql serves every node.
 */
export function findPgBin(): string | undefined {
  if (Deno.env.get("PG_BIN")) return Deno.env.get("PG_BIN");
  if (!exists("/usr/lib/postgresql")) return undefined;
  return [...Deno.readDirSync("/usr/lib/postgresql")]
    .map((entry) => Number(entry.name))
    .filter((major) => major >= 15)
    .sort((a, b) => b - a)
    .map((major) => `/usr/lib/postgresql/${major}/bin`)
    .find((bin) => exists(join(bin, "postgres")));
}

export function pgBin(): string {
  const bin = findPgBin();
  if (bin) return bin;
  throw new Error(
    "PostgreSQL 15+ server not found: run `bash scripts/install-deps.sh` as root on Debian, " +
      "or set PG_BIN to the directory holding postgres, initdb and pg_ctl",
  );
}

/**
 * Where the Supabase side's PostgreSQL of a major version is: 17 in the tree
 * scripts/install-deps-pg17.sh makes (PG17_HOME), 15 as Debian packages it.
 */
export function supabasePgBin(major: number): string {
  const home = Deno.env.get("PG17_HOME") ?? "/usr/local/lib/fdw-bridge/postgresql-17";
  const bin = major === 17 ? join(home, "bin") : `/usr/lib/postgresql/${major}/bin`;
  if (exists(join(bin, "postgres"))) return bin;
  throw new Error(
    `PostgreSQL ${major} for the Supabase side not found in ${bin}: run ` +
      "`bash scripts/install-deps.sh` as root on Debian",
  );
}

/** `vars` are passed as -v name=value; `tuplesOnly` prints bare rows, for reading results. */
export interface PsqlOptions {
  vars?: Record<string, string>;
  file?: string;
  tuplesOnly?: boolean;
}

/** Runs SQL (or a file) through psql with ON_ERROR_STOP, returning what psql printed. */
export function psql(url: string, sql: string, options: PsqlOptions = {}): Promise<string> {
  const vars = Object.entries(options.vars ?? {}).map(([name, value]) => `--set=${name}=${value}`);
  const args = [url, "-X", "-q", "-v", "ON_ERROR_STOP=1", ...vars];
  if (options.tuplesOnly) args.push("-At");
  args.push(...options.file ? ["-f", options.file] : ["-c", sql]);
  return run(join(pgBin(), "psql"), args, { env: { PGCONNECT_TIMEOUT: "5" } });
}
