/**
 * The local stack: a Supabase stand-in (plain PostgreSQL bootstrapped like a Supabase project's
 * database) and one or more TimescaleDB nodes with TLS, linked through postgres_fdw. The first
 * Timescale node is the bridge's default node; the others run on the next ports.
 */
import { createHash } from "node:crypto";
import { existsSync as exists } from "node:fs";
import { dirname, join } from "node:path";
import { MAX_TIMESCALE_NODES, repoRoot, type StackConfig, timescaleNodePort } from "./config.ts";
import { envFile, readEnvFile, writeStackEnv } from "./env.ts";
import { isRoot, pgBin, psql, run, succeeds } from "./postgres.ts";

const log = (message: string) => console.error(`stack: ${message}`);

/** One PostgreSQL cluster of the stack, named after its data directory. */
interface Cluster {
  name: string;
  port: number;
  data: string;
  /** Lines appended to postgresql.conf after initdb. */
  settings: string[];
  /** The whole pg_hba.conf. */
  hba: string[];
}

/** The cluster name of Timescale node i: `timescale`, then `timescale-2`, `timescale-3`. */
const timescaleNodeName = (i: number) => i === 1 ? "timescale" : `timescale-${i}`;

/** The stack's clusters with `count` Timescale nodes: Supabase first, then the nodes in order. */
export function clusters(config: StackConfig, count = config.timescaleNodes ?? 1): Cluster[] {
  const tls = join(config.dir, "tls");
  const cluster = (name: string, port: number, settings: string[], hba: string[]) => ({
    name,
    port,
    data: join(config.dir, name),
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

const pgCtl = (...args: string[]) => run(join(pgBin(), "pg_ctl"), args, { asClusterOwner: true });
const isRunning = (cluster: Cluster) =>
  pgCtl("-D", cluster.data, "status").then(() => true, () => false);

/** Creates the cluster unless its data directory holds one already. */
async function initCluster(cluster: Cluster, superuserPassword: string) {
  if (exists(join(cluster.data, "PG_VERSION"))) return;
  Deno.mkdirSync(cluster.data, { mode: 0o700 });
  const pwfile = `${cluster.data}.pw`;
  Deno.writeTextFileSync(pwfile, superuserPassword + "\n", { mode: 0o600 });
  try {
    if (isRoot) await run("chown", ["-R", "postgres:postgres", cluster.data, pwfile]);
    const initdb = "-U postgres --auth=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8".split(" ");
    const args = [...initdb, "-D", cluster.data, `--pwfile=${pwfile}`];
    await run(join(pgBin(), "initdb"), args, { asClusterOwner: true });
  } finally {
    Deno.removeSync(pwfile);
  }
  const settings = ["", "# fdw-bridge local stack", ...cluster.settings, ""].join("\n");
  Deno.writeTextFileSync(join(cluster.data, "postgresql.conf"), settings, { append: true });
  Deno.writeTextFileSync(join(cluster.data, "pg_hba.conf"), cluster.hba.join("\n") + "\n");
  log(`created the ${cluster.name} node in ${cluster.data}`);
}

/** Starts the cluster and waits until it accepts connections; does nothing if it runs. */
async function startCluster(cluster: Cluster) {
  if (await isRunning(cluster)) return;
  const logFile = join(dirname(cluster.data), "logs", `${cluster.name}.log`);
  await pgCtl("-D", cluster.data, "-l", logFile, "-w", "-t", "60", "start").catch((error) => {
    throw new Error(`${cluster.name} node did not start; see ${logFile}\n${error}`);
  });
}

/**
 * Stops the cluster if it runs: a fast shutdown, which cuts connections, then an immediate one
 * when a backend too busy to notice (an index build, a bench query) keeps the server up.
 */
async function stopCluster(cluster: Cluster) {
  if (!(await isRunning(cluster))) return;
  await pgCtl("-D", cluster.data, "-m", "fast", "-w", "-t", "30", "stop").catch(() => {
    log(`${cluster.name} did not stop within 30 s: stopping it immediately`);
    return pgCtl("-D", cluster.data, "-m", "immediate", "-w", "stop");
  });
}

/** A node's admin connection string: the first node's, at the node's own port. */
export function timescaleNodeUrl(firstNodeUrl: string, port: number): string {
  const url = new URL(firstNodeUrl);
  url.port = String(port);
  return url.toString();
}

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
      const target = `/var/tmp/fdw-bridge-${
        createHash("sha1").update(dir).digest("hex").slice(0, 12)
      }`;
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
  const installing = new Deno.Command("bash", { args: [installDeps], stdin: "null" }).spawn();
  if (!(await installing.status).success) {
    throw new Error("system dependencies are missing (see above)");
  }
  // Paths handed to the servers must not pass through the link of a relocated stack.
  const config = { ...requested, dir: await stackDir(requested.dir, true) };
  const env = await writeStackEnv(config);
  const [logs, tls] = [join(config.dir, "logs"), join(config.dir, "tls")];
  Deno.mkdirSync(logs, { recursive: true });
  if (!exists(join(tls, "server.crt"))) {
    Deno.mkdirSync(tls, { recursive: true });
    const request = "req -x509 -newkey rsa:2048 -nodes -days 825 -subj /CN=127.0.0.1".split(" ");
    const names = "subjectAltName=IP:127.0.0.1,DNS:localhost";
    const [key, cert] = [join(tls, "server.key"), join(tls, "server.crt")];
    await run("openssl", [...request, "-addext", names, "-keyout", key, "-out", cert]);
    Deno.chmodSync(key, 0o600);
  }
  if (isRoot) await run("chown", ["-R", "postgres:postgres", logs, tls]);
  const [supabase, ...timescales] = clusters(config);
  await initCluster(supabase, env.SUPABASE_DB_PASSWORD);
  for (const cluster of timescales) await initCluster(cluster, env.TIMESCALE_DB_PASSWORD);
  for (const cluster of [supabase, ...timescales]) await startCluster(cluster);

  await psql(env.SUPABASE_DB_URL, "", {
    file: join(repoRoot, "scripts", "stack", "supabase-platform.sql"),
    vars: { authenticator_password: env.AUTHENTICATOR_PASSWORD },
  });
  // Each node gets sql/timescale/ in order: the schema, the export views, the link role.
  const folder = join(repoRoot, "sql", "timescale");
  const files = [...Deno.readDirSync(folder)].map((entry) => join(folder, entry.name)).sort();
  for (const { port } of timescales) {
    const url = timescaleNodeUrl(env.TIMESCALE_DB_URL, port);
    for (const file of files.filter((name) => name.endsWith(".sql"))) {
      await psql(url, "", { file, vars: { bridge_password: env.BRIDGE_LINK_PASSWORD } });
    }
    await psql(url, "create extension if not exists pg_stat_statements");
  }
  // The product's migrations, applied by the real Supabase CLI as `supabase db push` does.
  const push = ["db", "push", `--remote=${env.SUPABASE_DB_URL}`, "--yes"];
  await run(join(repoRoot, "node_modules", ".bin", "supabase"), push, {
    env: { SUPABASE_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1" },
  });
  await psql(
    env.SUPABASE_DB_URL,
    `select bridge.configure('127.0.0.1', ${config.timescalePort}, 'postgres', 'bridge_reader', ` +
      `'${env.BRIDGE_LINK_PASSWORD}', 'require')`,
  );
  const ports = timescales.map((cluster) => cluster.port).join(", ");
  log(
    `up: supabase on 127.0.0.1:${config.supabasePort}, timescale on 127.0.0.1:${ports}; ` +
      `connection strings and keys in ${envFile(config)}`,
  );
}

/**
 * Attaches Timescale nodes 2..N to the bridge as cold tiers of 10 days each, counted back from
 * the UTC midnight of `newest` (today's unless given; the benchmark passes its data's end): the
 * default node keeps the newest 10 days and everything after, the last node everything before
 * its tier. Nodes already in the bridge's catalog are left as they are.
 */
export async function attachTimeTiers(config: StackConfig, newest = new Date()) {
  const env = readEnvFile(envFile(config));
  const count = config.timescaleNodes ?? 1;
  const attached = await psql(env.SUPABASE_DB_URL, "select name from bridge.nodes", {
    tuplesOnly: true,
  });
  for (let i = 2; i <= count; i++) {
    const name = timescaleNodeName(i).replace("-", "_");
    if (attached.split("\n").includes(name)) continue;
    const to = `date_trunc('day', '${newest.toISOString()}'::timestamptz at time zone 'utc') ` +
      `at time zone 'utc' - interval '${10 * (i - 1)} days'`;
    const from = i === count ? "null" : `${to} - interval '10 days'`;
    await psql(
      env.SUPABASE_DB_URL,
      `select bridge.attach_node('${name}', '127.0.0.1', ${timescaleNodePort(config, i)}, ` +
        `'postgres', 'bridge_reader', '${env.BRIDGE_LINK_PASSWORD}', 'require', ` +
        `slice_from => ${from}, slice_to => ${to})`,
    );
    log(`attached ${name} (127.0.0.1:${timescaleNodePort(config, i)}) as a cold tier`);
  }
}

/** Every cluster a stack may have made, however many nodes it was asked for this time. */
const everyCluster = async (config: StackConfig) =>
  clusters({ ...config, dir: await stackDir(config.dir) }, MAX_TIMESCALE_NODES);

/** Stops every node; their data stays for the next stack-up. */
export async function stackDown(config: StackConfig) {
  for (const cluster of await everyCluster(config)) await stopCluster(cluster);
  log("down");
}

/** A node of the stack by its cluster name: `supabase`, `timescale`, `timescale-2`, ... */
async function namedCluster(config: StackConfig, node: string): Promise<Cluster> {
  const cluster = (await everyCluster(config)).find((candidate) => candidate.name === node);
  if (!cluster) throw new Error(`the stack has no node named ${node}`);
  return cluster;
}

/** Stops one node of a running stack, as an outage would (fast shutdown: connections are cut). */
export const stopNode = async (config: StackConfig, node: string) =>
  stopCluster(await namedCluster(config, node));

/** Starts one node of the stack again and waits until it accepts connections. */
export const startNode = async (config: StackConfig, node: string) =>
  startCluster(await namedCluster(config, node));

/** Whether each node answers; true only when all do. */
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

/** Stops every node and deletes all their data; the next stack-up starts from nothing. */
export async function stackReset(config: StackConfig) {
  await stackDown(config);
  if (!exists(config.dir)) return;
  const target = await stackDir(config.dir);
  Deno.removeSync(target, { recursive: true });
  if (target !== config.dir) Deno.removeSync(config.dir);
  log(`reset: removed ${target}`);
}
