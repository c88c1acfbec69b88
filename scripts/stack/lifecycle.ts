/**
 * The local stack: a Supabase stand-in (plain PostgreSQL bootstrapped like a Supabase project's
 * database) and TimescaleDB nodes with TLS, the first of them linked through postgres_fdw.
 */
import { createHash } from "node:crypto";
import { existsSync as exists } from "node:fs";
import { dirname, join } from "node:path";
import {
  DEFAULT_SUPABASE_PG,
  MAX_TIMESCALE_NODES,
  repoRoot,
  type StackConfig,
  timescaleNodePort,
} from "./config.ts";
import { envFile, readEnvFile, writeStackEnv } from "./env.ts";
import { isRoot, pgBin, psql, run, succeeds, supabasePgBin } from "./postgres.ts";
import { makeCertificates } from "./tls.ts";

const log = (message: string) => console.error(`stack: ${message}`);

/** How the bridge reaches a node of the stack: bridge.configure's and attach_node's arguments. */
const link = (port: number, password: string) =>
  `'127.0.0.1', ${port}, 'postgres', 'bridge_reader', '${password}', 'require'`;

/** Timescale node i's cluster: `timescale`, then `timescale-2`, `timescale-3`. */
const timescaleNodeName = (i: number) => i === 1 ? "timescale" : `timescale-${i}`;

/** The stack's clusters with `count` Timescale nodes: Supabase first, then the nodes in order. */
export function clusters(config: StackConfig, count = config.timescaleNodes ?? 1) {
  const tls = join(config.dir, "tls");
  const cluster = (name: string, port: number, settings: string[], hba: string[]) => ({
    name,
    port,
    data: join(config.dir, name),
    /** The Supabase side's PostgreSQL major version; 0 for a node, which runs Debian's (pgBin). */
    major: 0,
    /** Its server's environment. */
    env: {} as Record<string, string>,
    settings: [
      "listen_addresses = '127.0.0.1'",
      `port = ${port}`,
      "unix_socket_directories = ''",
      "shared_buffers = '256MB'",
      "log_line_prefix = '%m [%p] %q%u@%d '",
      ...settings,
    ],
    hba,
  });
  // Supabase preloads pg_stat_statements; tests read it on every node to prove that bad input
  // reached none.
  const supabase = cluster("supabase", config.supabasePort, [
    "shared_preload_libraries = 'pg_stat_statements'",
    "track_functions = 'all'",
  ], ["host all all 127.0.0.1/32 scram-sha-256"]);
  supabase.major = config.supabasePg ?? DEFAULT_SUPABASE_PG;
  // On 17, libpq's sslrootcert=system trusts OpenSSL's default store, which SSL_CERT_FILE names:
  // the stack's CA stands in for the public CAs a hosted project trusts.
  supabase.env = { SSL_CERT_FILE: join(tls, "ca.crt") };
  const timescale = (i: number) =>
    cluster(timescaleNodeName(i), timescaleNodePort(config, i), [
      "shared_preload_libraries = 'timescaledb,pg_stat_statements'",
      "timescaledb.telemetry_level = off",
      "maintenance_work_mem = '1GB'",
      "max_parallel_maintenance_workers = 2",
      "ssl = on",
      `ssl_cert_file = '${join(tls, "server.crt")}'`,
      `ssl_key_file = '${join(tls, "server.key")}'`,
    ], [
      // The link role gets in only over TLS with SCRAM, as on a real host (sql/timescale/).
      "hostssl all bridge_reader 127.0.0.1/32 scram-sha-256",
      "host    all bridge_reader 127.0.0.1/32 reject",
      "host    all all           127.0.0.1/32 scram-sha-256",
    ]);
  return [supabase, ...Array.from({ length: count }, (_, k) => timescale(k + 1))];
}

type Cluster = ReturnType<typeof clusters>[number];

/** The major version the cluster's data directory was made by, or undefined before initdb. */
const madeBy = (cluster: Cluster) =>
  exists(join(cluster.data, "PG_VERSION"))
    ? Number(Deno.readTextFileSync(join(cluster.data, "PG_VERSION")).trim())
    : undefined;

/** The cluster's bin directory: its data directory's version once made, else the one asked. */
const clusterBin = (cluster: Cluster) => {
  const major = madeBy(cluster) ?? cluster.major;
  return major ? supabasePgBin(major) : pgBin();
};

const pgCtl = (cluster: Cluster, ...args: string[]) =>
  run(join(clusterBin(cluster), "pg_ctl"), ["-D", cluster.data, ...args], {
    asClusterOwner: true,
    env: cluster.env,
  });
const isRunning = (cluster: Cluster) => pgCtl(cluster, "status").then(() => true, () => false);

/** Starts the cluster unless it runs, creating it on first use with the superuser's password. */
async function startCluster(cluster: Cluster, superuserPassword?: string) {
  if (superuserPassword !== undefined && !exists(join(cluster.data, "PG_VERSION"))) {
    Deno.mkdirSync(cluster.data, { recursive: true, mode: 0o700 });
    const pwfile = `${cluster.data}.pw`;
    Deno.writeTextFileSync(pwfile, superuserPassword + "\n", { mode: 0o600 });
    try {
      if (isRoot) await run("chown", ["-R", "postgres:postgres", cluster.data, pwfile]);
      const initdb = "-U postgres --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8".split(" ");
      const args = [...initdb, "-D", cluster.data, `--pwfile=${pwfile}`];
      await run(join(clusterBin(cluster), "initdb"), args, { asClusterOwner: true });
    } finally {
      Deno.removeSync(pwfile);
    }
    const settings = ["", "# fdw-bridge local stack", ...cluster.settings, ""].join("\n");
    Deno.writeTextFileSync(join(cluster.data, "postgresql.conf"), settings, { append: true });
    Deno.writeTextFileSync(join(cluster.data, "pg_hba.conf"), cluster.hba.join("\n") + "\n");
    log(`created the ${cluster.name} node in ${cluster.data}`);
  }
  const made = madeBy(cluster);
  if (cluster.major && made !== cluster.major) {
    throw new Error(
      `the ${cluster.name} node in ${cluster.data} runs PostgreSQL ${made}, not ${cluster.major} ` +
        `as asked: start it with --supabase-pg ${made}, or remake it on ${cluster.major} with ` +
        "npm run stack:reset (which deletes its data)",
    );
  }
  if (await isRunning(cluster)) return;
  const logFile = join(dirname(cluster.data), "logs", `${cluster.name}.log`);
  await pgCtl(cluster, "-l", logFile, "-w", "-t", "60", "start").catch((error) => {
    throw new Error(`${cluster.name} node did not start; see ${logFile}\n${error}`);
  });
}

/**
 * A fast shutdown cuts connections, but a backend too busy to notice (an index build, a bench
 * query) can keep the server up: after 30 s, an immediate one.
 */
async function stopCluster(cluster: Cluster) {
  if (!(await isRunning(cluster))) return;
  await pgCtl(cluster, "-m", "fast", "-w", "-t", "30", "stop").catch(() => {
    log(`${cluster.name} did not stop within 30 s: stopping it immediately`);
    return pgCtl(cluster, "-m", "immediate", "-w", "stop");
  });
}

/** A node's admin connection string: the first node's, at the node's own port. */
export const timescaleNodeUrl = (firstNodeUrl: string, port: number): string =>
  Object.assign(new URL(firstNodeUrl), { port: String(port) }).toString();

/**
 * The stack's directory, made if asked, with its link resolved. Clusters run as the `postgres`
 * OS user when we are root, and that user must reach it: under a private directory (a checkout in
 * mktemp -d) the stack lives in /var/tmp instead, linked from `dir`.
 */
async function stackDir(dir: string, make = false): Promise<string> {
  if (make && !exists(dir)) {
    Deno.mkdirSync(dirname(dir), { recursive: true });
    if (!isRoot || await succeeds("test", ["-x", dirname(dir)], { asClusterOwner: true })) {
      Deno.mkdirSync(dir);
    } else {
      const hash = createHash("sha1").update(dir).digest("hex").slice(0, 12);
      const target = `/var/tmp/fdw-bridge-${hash}`;
      Deno.mkdirSync(target, { recursive: true });
      Deno.symlinkSync(target, dir);
      log(`${dirname(dir)} is private to root: the stack lives in ${target}`);
    }
    Deno.chmodSync(dir, 0o755);
  }
  return exists(dir) ? Deno.realPathSync(dir) : dir;
}

/** Starts (creating on first use) every node, applies every schema, links them, writes env. */
export async function stackUp(requested: StackConfig) {
  // install-deps.sh in view: an install takes a minute, and its messages say what is missing.
  const installDeps = join(repoRoot, "scripts", "install-deps.sh");
  const installing = new Deno.Command("bash", {
    args: [installDeps],
    env: { STACK_SUPABASE_PG: String(requested.supabasePg ?? DEFAULT_SUPABASE_PG) },
    stdin: "null",
  }).spawn();
  if (!(await installing.status).success) {
    throw new Error("system dependencies are missing (see above)");
  }
  // Paths handed to the servers must not pass through the link of a relocated stack.
  const config = { ...requested, dir: await stackDir(requested.dir, true) };
  const env = await writeStackEnv(config);
  const [logs, tls] = [join(config.dir, "logs"), join(config.dir, "tls")];
  for (const dir of [logs, tls]) Deno.mkdirSync(dir, { recursive: true });
  const newCertificates = await makeCertificates(tls);
  if (isRoot) await run("chown", ["-R", "postgres:postgres", logs, tls]);
  const [supabase, ...timescales] = clusters(config);
  await startCluster(supabase, env.SUPABASE_DB_PASSWORD);
  for (const cluster of timescales) await startCluster(cluster, env.TIMESCALE_DB_PASSWORD);
  const nodeUrls = timescales.map(({ port }) => timescaleNodeUrl(env.TIMESCALE_DB_URL, port));
  // A node already running when its certificate was made anew serves the new one after a reload.
  if (newCertificates) { for (const url of nodeUrls) await psql(url, "select pg_reload_conf()"); }

  const [db, linkPassword] = [env.SUPABASE_DB_URL, env.BRIDGE_LINK_PASSWORD];
  const platform = join(repoRoot, "scripts", "stack", "supabase-platform.sql");
  const platformVars = { authenticator_password: env.AUTHENTICATOR_PASSWORD };
  await psql(db, "", { file: platform, vars: platformVars });
  // Each node gets sql/timescale/ in order: the schema, the export views, the link role.
  const folder = join(repoRoot, "sql", "timescale");
  const files = [...Deno.readDirSync(folder)].map((entry) => join(folder, entry.name)).sort();
  for (const url of nodeUrls) {
    for (const file of files.filter((name) => name.endsWith(".sql"))) {
      await psql(url, "", { file, vars: { bridge_password: linkPassword } });
    }
    await psql(url, "create extension if not exists pg_stat_statements");
  }
  // The product's migrations, applied by the real Supabase CLI as `supabase db push` does.
  const supabaseCli = join(repoRoot, "node_modules", ".bin", "supabase");
  const telemetryOff = { SUPABASE_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1" };
  await run(supabaseCli, ["db", "push", `--remote=${db}`, "--yes"], { env: telemetryOff });
  await psql(db, `select bridge.configure(${link(config.timescalePort, linkPassword)})`);
  const ports = timescales.map((cluster) => cluster.port).join(", ");
  const version = (await psql(db, "show server_version", { tuplesOnly: true })).trim();
  log(
    `up: supabase (PostgreSQL ${version}) on 127.0.0.1:${config.supabasePort}, timescale on ` +
      `127.0.0.1:${ports}; connection strings and keys in ${envFile(config)}`,
  );
}

/**
 * Attaches Timescale nodes 2..N to the bridge as cold tiers of 10 days each, counted back from
 * the UTC midnight of `newest` (today's unless given; the benchmark passes its data's end): the
 * default node keeps the newest 10 days and everything after, the last node everything before
 * its tier. Nodes already in the bridge's catalog are left as they are.
 */
export async function attachTimeTiers(config: StackConfig, newest = new Date()) {
  const { SUPABASE_DB_URL: db, BRIDGE_LINK_PASSWORD: password } = readEnvFile(envFile(config));
  const attached = await psql(db, "select name from bridge.nodes", { tuplesOnly: true });
  const midnight = Date.UTC(newest.getUTCFullYear(), newest.getUTCMonth(), newest.getUTCDate());
  const daysBack = (days: number) => `'${new Date(midnight - days * 86_400_000).toISOString()}'`;
  const count = config.timescaleNodes ?? 1;
  for (let i = 2; i <= count; i++) {
    const [name, port] = [timescaleNodeName(i).replace("-", "_"), timescaleNodePort(config, i)];
    if (attached.split("\n").includes(name)) continue;
    const from = i === count ? "null" : daysBack(10 * i);
    const slice = `slice_from => ${from}, slice_to => ${daysBack(10 * (i - 1))}`;
    await psql(db, `select bridge.attach_node('${name}', ${link(port, password)}, ${slice})`);
    log(`attached ${name} (127.0.0.1:${port}) as a cold tier`);
  }
}

/** Every cluster a stack may have made, however many nodes it was asked for this time. */
const everyCluster = async (config: StackConfig) =>
  clusters({ ...config, dir: await stackDir(config.dir) }, MAX_TIMESCALE_NODES);

export async function stackDown(config: StackConfig) {
  for (const cluster of await everyCluster(config)) await stopCluster(cluster);
  log("down");
}

/** A node by its cluster name (`supabase`, `timescale`, `timescale-2`, ...), or an error. */
async function namedCluster(config: StackConfig, node: string): Promise<Cluster> {
  const cluster = (await everyCluster(config)).find((candidate) => candidate.name === node);
  if (!cluster) throw new Error(`the stack has no node named ${node}`);
  return cluster;
}

/** Stops one node as an outage would: a fast shutdown cuts its connections. */
export const stopNode = async (config: StackConfig, node: string) =>
  stopCluster(await namedCluster(config, node));

export const startNode = async (config: StackConfig, node: string) =>
  startCluster(await namedCluster(config, node));

/** Prints whether each node answers; true only when all do. */
export async function stackStatus(config: StackConfig): Promise<boolean> {
  // Supabase and the first Timescale node always; the others when the stack has made them.
  const made = (await everyCluster(config)).filter((cluster, i) => i < 2 || exists(cluster.data));
  let allUp = true;
  for (const { name, port } of made) {
    const up = await succeeds(join(pgBin(), "pg_isready"), ["-h", "127.0.0.1", "-p", `${port}`]);
    allUp &&= up;
    console.log(`${name.padEnd(11)} 127.0.0.1:${port}  ${up ? "up" : "down"}`);
  }
  if (allUp && readEnvFile(envFile(config)).SUPABASE_DB_URL) {
    console.log(`env         ${envFile(config)}`);
  }
  return allUp;
}

/** Deletes every node's data: the next stack-up starts from nothing. */
export async function stackReset(config: StackConfig) {
  await stackDown(config);
  if (!exists(config.dir)) return;
  const target = await stackDir(config.dir);
  Deno.removeSync(target, { recursive: true });
  if (target !== config.dir) Deno.removeSync(config.dir);
  log(`reset: removed ${target}`);
}
