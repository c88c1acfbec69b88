/**
 * The throwaway stacks of `npm test` and `npm run bench`: a temporary directory and ports of their
 * own, seeding, the functions gateway, and a teardown of everything, even half-way through a start.
 */
import { existsSync as exists } from "node:fs";
import { join } from "node:path";
import { DEFAULT_SUPABASE_PG, repoRoot, type StackConfig, type SupabasePg } from "./config.ts";
import { envFile, readEnvFile } from "./env.ts";
import { deployFunctions } from "./deploy.ts";
import { clusters, stackDown, stackUp } from "./lifecycle.ts";

const log = (message: string) => console.error(`stack: ${message}`);

/** Runs a script of the repository under Deno, on the stack in `stack.env`. */
const spawnScript = (stack: ThrowawayStack, args: string[], options: Deno.CommandOptions = {}) =>
  new Deno.Command(join(repoRoot, "node_modules", ".bin", "deno"), {
    args: ["run", "-A", ...args],
    cwd: repoRoot,
    env: stack.env,
    ...options,
  }).spawn();

export type StackPorts = Pick<StackConfig, "supabasePort" | "timescalePort" | "functionsPort">;

/** Ports used above a base: + 1 to + 14 by a stack and its tests, + 1001 to + 1014 by another. */
const PORTS_ABOVE_BASE = 1014;

/**
 * Ports above the base in the environment variable `name`, so two checkouts can run side by side.
 *
 * @example
 * portsFromBase("TEST_PORT_BASE", 25320); // { functionsPort: 25321, supabasePort: 25322, timescalePort: 25332 }
 */
export function portsFromBase(name: string, fallback: number): StackPorts {
  const base = Number(Deno.env.get(name) ?? fallback);
  const top = base + PORTS_ABOVE_BASE;
  if (!Number.isInteger(base) || base < 1024 || top > 65535) {
    throw new Error(`${name} must be a port from 1024 to ${65535 - PORTS_ABOVE_BASE}, got ${base}`);
  }
  // A port in Linux's range for outgoing connections can be held, at any moment, by one of the
  // many connections a test run opens; a server then fails to bind it, at random. Seen once in
  // 60 runs of the suite, with ports at 55320 and up.
  const range = "/proc/sys/net/ipv4/ip_local_port_range";
  const [low, high] = exists(range) ? Deno.readTextFileSync(range).split(/\s+/).map(Number) : [];
  if (top >= low && base <= high) {
    throw new Error(
      `${name} ${base} puts ports ${base + 1} to ${top} inside ${low}-${high}, where outgoing ` +
        `connections take their local ports and can hold one when a server needs it: pick a ` +
        `base below ${low - PORTS_ABOVE_BASE}`,
    );
  }
  return { functionsPort: base + 1, supabasePort: base + 2, timescalePort: base + 12 };
}

export interface ThrowawayStack {
  config: StackConfig;
  /** The env file's values plus STACK_DIR and STACK_*_PORT, as the scripts read them. */
  env: Record<string, string>;
}

/** What stopThrowawayStacks undoes, newest first: gateways before the stacks they serve. */
const started: (() => Promise<void>)[] = [];

/** Stops every gateway and throwaway stack started, even one still starting; deletes their dirs. */
export async function stopThrowawayStacks() {
  while (started.length > 0) await started.pop()?.();
}

const portInUse = (port: number) =>
  Deno.connect({ hostname: "127.0.0.1", port }).then((connection) => {
    connection.close();
    return true;
  }, () => false);

/**
 * A fresh stack with `timescaleNodes` nodes, the first alone attached, and the Supabase side on
 * PostgreSQL `supabasePg`. A port in use is most likely another run of the same command's:
 * refused, rather than use someone else's data.
 */
export async function startThrowawayStack(
  purpose: string,
  ports: StackPorts,
  timescaleNodes = 1,
  supabasePg: SupabasePg = DEFAULT_SUPABASE_PG,
): Promise<ThrowawayStack> {
  const config: StackConfig = { dir: "", ...ports, timescaleNodes, supabasePg };
  for (const port of [ports.functionsPort, ...clusters(config).map((cluster) => cluster.port)]) {
    if (await portInUse(port)) {
      throw new Error(`127.0.0.1:${port} is in use: is another ${purpose} run going on?`);
    }
  }
  const tmp = Deno.makeTempDirSync({ prefix: `fdw-bridge-${purpose}-` });
  // Clusters run as the postgres OS user when we are root: it must reach the directory.
  Deno.chmodSync(tmp, 0o755);
  config.dir = join(tmp, "stack");
  log(`${purpose} stack in ${config.dir}`);
  // Registered before stackUp, so a stack that fails half-way is torn down too.
  started.push(async () => {
    await stackDown(config).catch((error) => log(`teardown: ${error}`));
    await Deno.remove(tmp, { recursive: true }).catch((error) => log(`teardown: ${error}`));
  });
  await stackUp(config);
  const env = {
    ...readEnvFile(envFile(config)),
    STACK_DIR: config.dir,
    STACK_SUPABASE_PORT: String(config.supabasePort),
    STACK_TIMESCALE_PORT: String(config.timescalePort),
    STACK_FUNCTIONS_PORT: String(config.functionsPort),
    STACK_TIMESCALE_NODES: String(timescaleNodes),
    STACK_SUPABASE_PG: String(supabasePg),
  };
  return { config, env };
}

/** Runs scripts/seed.ts with `args`, its progress in view. */
export async function seedStack(stack: ThrowawayStack, args: string[]) {
  const { code } = await spawnScript(stack, ["scripts/seed.ts", ...args]).status;
  if (code !== 0) throw new Error(`seeding the stack failed (exit ${code})`);
}

/** scripts/serve-functions.ts on the stack's functions port. */
export interface Gateway {
  url: string;
  /** True once it has exited without being asked to (e.g. signalled from outside). */
  exitedEarly(): boolean;
  stop(): Promise<void>;
}

/**
 * Starts the gateway, waits until it listens, then deploys every function through it with the
 * real CLI (`supabase functions deploy`): the gateway serves what the CLI uploaded.
 */
export async function startGateway(stack: ThrowawayStack): Promise<Gateway> {
  const child = spawnScript(stack, ["scripts/serve-functions.ts"], {
    stdin: "null",
    stdout: "null",
  });
  let stopping = false, exited = false;
  child.status.then((status) => {
    exited = !stopping;
    if (exited) log(`the functions gateway exited while in use: ${JSON.stringify(status)}`);
  });
  const gateway: Gateway = {
    url: `http://127.0.0.1:${stack.config.functionsPort}`,
    exitedEarly: () => exited,
    async stop() {
      stopping = true;
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited
      }
      await child.status;
    },
  };
  started.push(gateway.stop);
  const port = stack.config.functionsPort;
  const until = Date.now() + 60_000;
  while (!(await portInUse(port))) {
    if (Date.now() > until || exited) {
      await gateway.stop();
      throw new Error(`the functions gateway did not listen on 127.0.0.1:${port} within 60 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const deployStarted = performance.now();
  await deployFunctions(stack.config);
  const seconds = ((performance.now() - deployStarted) / 1000).toFixed(1);
  log(`functions deployed with supabase functions deploy in ${seconds} s`);
  return gateway;
}
