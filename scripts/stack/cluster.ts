/** One PostgreSQL cluster of the local stack: created, started, stopped and probed with pg_ctl. */
import { join } from "node:path";
import { isRoot, run, succeeds } from "./run.ts";
import { pgBin } from "./postgres.ts";

export interface ClusterSpec {
  /** Short name: the data directory and the log file are named after it. */
  name: string;
  /** The stack directory the cluster lives in. */
  dir: string;
  port: number;
  superuserPassword: string;
  /** Lines appended to postgresql.conf after initdb. */
  settings: string[];
  /** The whole pg_hba.conf. */
  hba: string[];
}

export const dataDir = (spec: ClusterSpec) => join(spec.dir, spec.name);
const logFile = (spec: ClusterSpec) => join(spec.dir, "logs", `${spec.name}.log`);

/** Gives the cluster owner (postgres, when we are root) a path it may write. */
export async function chownToClusterOwner(path: string) {
  if (isRoot) await run("chown", ["-R", "postgres:postgres", path]);
}

/** Creates the cluster unless its data directory already holds one. */
export async function initCluster(spec: ClusterSpec): Promise<boolean> {
  const data = dataDir(spec);
  try {
    Deno.statSync(join(data, "PG_VERSION"));
    return false;
  } catch {
    // not created yet
  }
  Deno.mkdirSync(data, { recursive: true, mode: 0o700 });
  const pwfile = join(spec.dir, `.${spec.name}.pw`);
  Deno.writeTextFileSync(pwfile, spec.superuserPassword + "\n", { mode: 0o600 });
  await chownToClusterOwner(data);
  await chownToClusterOwner(pwfile);
  try {
    await run(join(pgBin(), "initdb"), [
      "-D",
      data,
      "-U",
      "postgres",
      "--auth=scram-sha-256",
      `--pwfile=${pwfile}`,
      "--encoding=UTF8",
      "--locale=C.UTF-8",
    ], { asClusterOwner: true });
  } finally {
    Deno.removeSync(pwfile);
  }
  const conf = join(data, "postgresql.conf");
  Deno.writeTextFileSync(conf, "\n# fdw-bridge local stack\n" + spec.settings.join("\n") + "\n", {
    append: true,
  });
  Deno.writeTextFileSync(join(data, "pg_hba.conf"), spec.hba.join("\n") + "\n");
  await chownToClusterOwner(data);
  return true;
}

/** True when the server accepts connections on its port. */
export function isReady(port: number): Promise<boolean> {
  return succeeds(join(pgBin(), "pg_isready"), ["-q", "-h", "127.0.0.1", "-p", String(port)]);
}

/** True when pg_ctl finds a running postmaster for the data directory. */
function isRunning(spec: ClusterSpec): Promise<boolean> {
  return succeeds(join(pgBin(), "pg_ctl"), ["-D", dataDir(spec), "status"], {
    asClusterOwner: true,
  });
}

/** Starts the cluster and waits until it accepts connections; does nothing if it runs. */
export async function startCluster(spec: ClusterSpec) {
  if (await isRunning(spec)) return;
  try {
    await run(join(pgBin(), "pg_ctl"), [
      "-D",
      dataDir(spec),
      "-l",
      logFile(spec),
      "-w",
      "-t",
      "60",
      "start",
    ], { asClusterOwner: true });
  } catch (error) {
    throw new Error(`${spec.name} node did not start; see ${logFile(spec)}\n${error}`);
  }
}

/** Stops the cluster (fast shutdown) if it runs. */
export async function stopCluster(spec: ClusterSpec) {
  if (!(await isRunning(spec))) return;
  await run(join(pgBin(), "pg_ctl"), ["-D", dataDir(spec), "-m", "fast", "-w", "stop"], {
    asClusterOwner: true,
  });
}
