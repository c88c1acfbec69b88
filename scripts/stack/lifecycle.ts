/**
 * The local stack: a Supabase stand-in (plain PostgreSQL bootstrapped like a Supabase project's
 * database) and one or more TimescaleDB nodes with TLS, linked through postgres_fdw. The first
 * Timescale node is the bridge's default node; the others run on the next ports.
 */
import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { MAX_TIMESCALE_NODES, repoRoot, type StackConfig, timescaleNodePort } from "./config.ts";
import {
  chownToClusterOwner,
  type ClusterSpec,
  dataDir,
  initCluster,
  isReady,
  startCluster,
  stopCluster,
} from "./cluster.ts";
import { envFile, loadOrCreateSecrets, readEnvFile, stackEnv, writeEnvFile } from "./env.ts";
import { psql } from "./postgres.ts";
import { isRoot, run, succeeds } from "./run.ts";

const log = (message: string) => console.error(`stack: ${message}`);

const commonSettings = (port: number) => [
  "listen_addresses = '127.0.0.1'",
  `port = ${port}`,
  "unix_socket_directories = ''",
  "max_connections = 100",
  "shared_buffers = '256MB'",
  "fsync = on",
  "log_line_prefix = '%m [%p] %q%u@%d '",
];

function clusters(config: StackConfig, secrets: ReturnType<typeof loadOrCreateSecrets>) {
  const supabase: ClusterSpec = {
    name: "supabase",
    dir: config.dir,
    port: config.supabasePort,
    superuserPassword: secrets.SUPABASE_DB_PASSWORD,
    // Supabase preloads pg_stat_statements; tests also read it to prove bad input never
    // reaches the database.
    settings: [
      ...commonSettings(config.supabasePort),
      "shared_preload_libraries = 'pg_stat_statements'",
      "track_functions = 'all'",
    ],
    hba: ["host all all 127.0.0.1/32 scram-sha-256"],
  };
  const timescaleNode = (i: number): ClusterSpec => ({
    name: timescaleNodeName(i),
    dir: config.dir,
    port: timescaleNodePort(config, i),
    superuserPassword: secrets.TIMESCALE_DB_PASSWORD,
    settings: [
      ...commonSettings(timescaleNodePort(config, i)),
      // pg_stat_statements as on Supabase's side: tests read both to prove that bad input
      // reached neither node.
      "shared_preload_libraries = 'timescaledb,pg_stat_statements'",
      "timescaledb.telemetry_level = off",
      "maintenance_work_mem = '1GB'",
      "max_parallel_maintenance_workers = 2",
      "ssl = on",
      `ssl_cert_file = '${join(config.dir, "tls", "server.crt")}'`,
      `ssl_key_file = '${join(config.dir, "tls", "server.key")}'`,
    ],
    // The link role gets in only over TLS with SCRAM, as on a real host (sql/timescale/).
    hba: [
      "hostssl all bridge_reader 127.0.0.1/32 scram-sha-256",
      "host    all bridge_reader 127.0.0.1/32 reject",
      "host    all all           127.0.0.1/32 scram-sha-256",
    ],
  });
  const timescales = Array.from(
    { length: config.timescaleNodes ?? 1 },
    (_, k) => timescaleNode(k + 1),
  );
  return { supabase, timescales };
}

/** The cluster name of Timescale node i: `timescale`, then `timescale-2`, `timescale-3`. */
const timescaleNodeName = (i: number) => i === 1 ? "timescale" : `timescale-${i}`;

/** A node's admin connection string: the first node's, at the node's own port. */
export function timescaleNodeUrl(firstNodeUrl: string, port: number): string {
  const url = new URL(firstNodeUrl);
  url.port = String(port);
  return url.toString();
}

/**
 * Makes the stack directory. Clusters run as the `postgres` OS user when we are root, so that
 * user must be able to reach it; a checkout under a private directory (mktemp -d) cannot be, so
 * the stack then lives under /var/tmp and the configured path is a link to it.
 */
async function ensureStackDir(dir: string): Promise<string> {
  try {
    return Deno.realPathSync(dir);
  } catch {
    // create it below
  }
  Deno.mkdirSync(dirname(dir), { recursive: true });
  const reachable = !isRoot ||
    await succeeds("test", ["-x", dirname(dir)], { asClusterOwner: true });
  if (reachable) {
    Deno.mkdirSync(dir, { mode: 0o755 });
  } else {
    const hash = createHash("sha1").update(dir).digest("hex").slice(0, 12);
    const target = `/var/tmp/fdw-bridge-${hash}`;
    Deno.mkdirSync(target, { recursive: true, mode: 0o755 });
    Deno.symlinkSync(target, dir);
    log(`${dirname(dir)} is private to root: the stack lives in ${target}`);
  }
  Deno.chmodSync(dir, 0o755);
  return Deno.realPathSync(dir);
}

/** A self-signed certificate for the Timescale node's TLS, made once per stack. */
async function ensureTlsCertificate(dir: string) {
  const tls = join(dir, "tls");
  try {
    Deno.statSync(join(tls, "server.crt"));
    return;
  } catch {
    // make it below
  }
  Deno.mkdirSync(tls, { recursive: true });
  await run("openssl", [
    "req",
    "-x509",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-days",
    "825",
    "-subj",
    "/CN=127.0.0.1",
    "-addext",
    "subjectAltName=IP:127.0.0.1,DNS:localhost",
    "-keyout",
    join(tls, "server.key"),
    "-out",
    join(tls, "server.crt"),
  ]);
  Deno.chmodSync(join(tls, "server.key"), 0o600);
  await chownToClusterOwner(tls);
}

/** Runs install-deps.sh in view: an install takes a minute, and its messages say what is missing. */
async function ensureDependencies() {
  const { code } = await new Deno.Command("bash", {
    args: [join(repoRoot, "scripts", "install-deps.sh")],
    stdin: "null",
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (code !== 0) throw new Error("system dependencies are missing (see above)");
}

/** The Timescale node's schema, export views and link role (sql/timescale/, in order). */
async function applyTimescaleSchema(url: string, linkPassword: string) {
  const folder = join(repoRoot, "sql", "timescale");
  const files = [...Deno.readDirSync(folder)]
    .filter((entry) => entry.name.endsWith(".sql"))
    .map((entry) => entry.name)
    .sort();
  for (const file of files) {
    await psql(url, "", { file: join(folder, file), vars: { bridge_password: linkPassword } });
  }
}

/** The product's migrations, applied by the real Supabase CLI as `supabase db push` does. */
async function pushMigrations(url: string) {
  await run(join(repoRoot, "node_modules", ".bin", "supabase"), [
    "db",
    "push",
    `--remote=${url}`,
    "--yes",
  ], { cwd: repoRoot, env: { SUPABASE_TELEMETRY_DISABLED: "1", DO_NOT_TRACK: "1" } });
}

/** Starts (creating on first use) both nodes, applies every schema, links them, writes env. */
export async function stackUp(requested: StackConfig) {
  await ensureDependencies();
  // Paths handed to the servers must not pass through the link of a relocated stack.
  const config = { ...requested, dir: await ensureStackDir(requested.dir) };
  const secrets = loadOrCreateSecrets(config);
  const env = await stackEnv(config, secrets);
  const { supabase, timescales } = clusters(config, secrets);

  const logs = join(config.dir, "logs");
  Deno.mkdirSync(logs, { recursive: true });
  await chownToClusterOwner(logs);
  await ensureTlsCertificate(config.dir);

  for (const spec of [supabase, ...timescales]) {
    if (await initCluster(spec)) log(`created the ${spec.name} node in ${dataDir(spec)}`);
    await startCluster(spec);
  }
  writeEnvFile(envFile(config), env);

  await psql(env.SUPABASE_DB_URL, "", {
    file: join(repoRoot, "scripts", "stack", "supabase-platform.sql"),
    vars: { authenticator_password: secrets.AUTHENTICATOR_PASSWORD },
  });
  for (const spec of timescales) {
    const url = timescaleNodeUrl(env.TIMESCALE_DB_URL, spec.port);
    await applyTimescaleSchema(url, secrets.BRIDGE_LINK_PASSWORD);
    await psql(url, "create extension if not exists pg_stat_statements");
  }
  await pushMigrations(env.SUPABASE_DB_URL);
  await psql(
    env.SUPABASE_DB_URL,
    `select bridge.configure('127.0.0.1', ${config.timescalePort}, 'postgres', 'bridge_reader', ` +
      `'${secrets.BRIDGE_LINK_PASSWORD}', 'require')`,
  );
  log(
    `up: supabase on 127.0.0.1:${config.supabasePort}, timescale on ` +
      `127.0.0.1:${timescales.map((spec) => spec.port).join(", ")}; connection strings and ` +
      `keys in ${envFile(config)}`,
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
  const tierDays = 10;
  const count = config.timescaleNodes ?? 1;
  const attached = (await psql(env.SUPABASE_DB_URL, "select name from bridge.nodes", {
    tuplesOnly: true,
  })).split("\n");
  for (let i = 2; i <= count; i++) {
    const name = timescaleNodeName(i).replace("-", "_");
    if (attached.includes(name)) continue;
    const to = `date_trunc('day', '${newest.toISOString()}'::timestamptz at time zone 'utc') ` +
      `at time zone 'utc' - interval '${tierDays * (i - 1)} days'`;
    const from = i === count ? "null" : `${to} - interval '${tierDays} days'`;
    await psql(
      env.SUPABASE_DB_URL,
      `select bridge.attach_node('${name}', '127.0.0.1', ${timescaleNodePort(config, i)}, ` +
        `'postgres', 'bridge_reader', '${env.BRIDGE_LINK_PASSWORD}', 'require', ` +
        `slice_from => ${from}, slice_to => ${to})`,
    );
    log(`attached ${name} (127.0.0.1:${timescaleNodePort(config, i)}) as a cold tier`);
  }
}

/** Every node a stack may have made, however many it was asked for this time. */
function specsFromDisk(config: StackConfig) {
  let dir = config.dir;
  try {
    dir = Deno.realPathSync(config.dir);
  } catch {
    // no stack yet: nothing on disk to resolve
  }
  const { supabase, timescales } = clusters(
    { ...config, dir, timescaleNodes: MAX_TIMESCALE_NODES },
    loadOrCreateSecrets(config),
  );
  return [supabase, ...timescales];
}

/** Stops every node; their data stays for the next stack-up. */
export async function stackDown(config: StackConfig) {
  for (const spec of specsFromDisk(config)) {
    try {
      Deno.statSync(dataDir(spec));
    } catch {
      continue;
    }
    await stopCluster(spec);
  }
  log("down");
}

/** A node of the stack by its cluster name: `supabase`, `timescale`, `timescale-2`, ... */
function nodeSpec(config: StackConfig, node: string): ClusterSpec {
  const spec = specsFromDisk(config).find((candidate) => candidate.name === node);
  if (!spec) throw new Error(`the stack has no node named ${node}`);
  return spec;
}

/** Stops one node of a running stack, as an outage would (fast shutdown: connections are cut). */
export function stopNode(config: StackConfig, node: string) {
  return stopCluster(nodeSpec(config, node));
}

/** Starts one node of the stack again and waits until it accepts connections. */
export function startNode(config: StackConfig, node: string) {
  return startCluster(nodeSpec(config, node));
}

/** Whether each node answers; true only when all do. */
export async function stackStatus(config: StackConfig): Promise<boolean> {
  // Supabase and the first Timescale node always; the others when the stack has made them.
  const nodes = specsFromDisk(config).filter((spec, i) => {
    if (i < 2) return true;
    try {
      return Deno.statSync(dataDir(spec)).isDirectory;
    } catch {
      return false;
    }
  }).map((spec): [string, number] => [spec.name, spec.port]);
  let allUp = true;
  for (const [name, port] of nodes) {
    const up = await isReady(port);
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
  let target = config.dir;
  try {
    target = Deno.realPathSync(config.dir);
  } catch {
    return;
  }
  Deno.removeSync(target, { recursive: true });
  if (target !== config.dir) Deno.removeSync(config.dir);
  log(`reset: removed ${target}`);
}
