/** Locating the PostgreSQL server binaries and driving psql against a stack node. */
import { join } from "node:path";
import { run } from "./run.ts";

/**
 * The newest PostgreSQL (15 or later) bin directory: PG_BIN if set, else Debian's
 * /usr/lib/postgresql/<major>/bin. Returns undefined when none is installed.
 */
export function findPgBin(): string | undefined {
  const fromEnv = Deno.env.get("PG_BIN");
  if (fromEnv) return fromEnv;
  let majors: number[] = [];
  try {
    majors = [...Deno.readDirSync("/usr/lib/postgresql")]
      .map((entry) => Number(entry.name))
      .filter((major) => major >= 15)
      .sort((a, b) => b - a);
  } catch {
    return undefined;
  }
  for (const major of majors) {
    const bin = `/usr/lib/postgresql/${major}/bin`;
    try {
      Deno.statSync(join(bin, "postgres"));
      return bin;
    } catch {
      // not a server install: try the next major
    }
  }
  return undefined;
}

/** The PostgreSQL bin directory, or an error that says how to install one. */
export function pgBin(): string {
  const bin = findPgBin();
  if (!bin) {
    throw new Error(
      "PostgreSQL 15+ server not found: run `bash scripts/install-deps.sh` as root on Debian, " +
        "or set PG_BIN to the directory holding postgres, initdb and pg_ctl",
    );
  }
  return bin;
}

export interface PsqlOptions {
  /** psql variables, passed as -v name=value. */
  vars?: Record<string, string>;
  /** A SQL file to run, instead of `sql`. */
  file?: string;
  /** Print tuples only, unaligned (for reading results). */
  tuplesOnly?: boolean;
}

/** Runs SQL (or a file) through psql with ON_ERROR_STOP, returning what psql printed. */
export function psql(url: string, sql: string, options: PsqlOptions = {}): Promise<string> {
  const args = [url, "-X", "-q", "-v", "ON_ERROR_STOP=1"];
  for (const [name, value] of Object.entries(options.vars ?? {})) {
    args.push("-v", `${name}=${value}`);
  }
  if (options.tuplesOnly) args.push("-At");
  if (options.file) args.push("-f", options.file);
  else args.push("-c", sql);
  return run(join(pgBin(), "psql"), args, { env: { PGCONNECT_TIMEOUT: "5" } });
}
