/**
 * A throwaway two-node stack for `npm test` and `npm run bench`: a temporary directory and ports
 * of its own (never the dev stack's data), seeded on request, with the local functions gateway
 * beside it, and torn down with everything it started, even half-way through starting.
 */
import { join } from "node:path";
import { repoRoot, type StackConfig, timescaleNodePort } from "./config.ts";
import { envFile, readEnvFile } from "./env.ts";
import { stackDown, stackUp } from "./lifecycle.ts";

const log = (message: string) => console.error(`stack: ${message}`);
const deno = join(repoRoot, "node_modules", ".bin", "deno");

export type StackPorts = Pick<StackConfig, "supabasePort" | "timescalePort" | "functionsPort">;

/**
 * The ports a stack and its tests' own servers use above a base: base + 1 to + 12, the further
 * Timescale nodes + 13 and + 14, and a second stack 1000 above (tests/stack_test.ts).
 */
const PORTS_ABOVE_BASE = 1014;

/**
 * The kernel's range of local ports for outgoing connections (Linux), or undefined elsewhere.
 * A fixed port inside it can be held, at any moment, by one of the many connections a test run
 * opens; a server then fails to bind it, at random. Seen once in 60 runs of the suite, with
 * ports at 55320 and up.
 */
function ephemeralPorts(): [number, number] | undefined {
  try {
    const [low, high] = Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range")
      .trim().split(/\s+/).map(Number);
    return [low, high];
  } catch {
    return undefined;
  }
}

/**
 * A throwaway stack's ports from one base, read from the environment variable `name` when it is
 * set: functions base + 1, Supabase base + 2, Timescale base + 12 (and the next ports for more
 * Timescale nodes). Moving the base lets two
 * checkouts (or two developers) run side by side. The base must keep every port below the
 * kernel's range for outgoing connections (or above it).
 *
 * @example
 * portsFromBase("TEST_PORT_BASE", 25320); // { functionsPort: 25321, supabasePort: 25322, timescalePort: 25332 }
 */
export function portsFromBase(name: string, fallback: number): StackPorts {
  const base = Number(Deno.env.get(name) ?? fallback);
  if (!Number.isInteger(base) || base < 1024 || base + PORTS_ABOVE_BASE > 65535) {
    throw new Error(`${name} must be a port from 1024 to ${65535 - PORTS_ABOVE_BASE}, got ${base}`);
  }
  const range = ephemeralPorts();
  if (range && base + PORTS_ABOVE_BASE >= range[0] && base <= range[1]) {
    throw new Error(
      `${name} ${base} puts ports ${base + 1} to ${base + PORTS_ABOVE_BASE} inside ` +
        `${range[0]}-${range[1]}, where outgoing connections take their local ports and can ` +
        `hold one when a server needs it: pick a base below ${range[0] - PORTS_ABOVE_BASE}`,
    );
  }
  return { functionsPort: base + 1, supabasePort: base + 2, timescalePort: base + 12 };
}

/** A running throwaway stack: its config and every variable a client of it needs. */
export interface ThrowawayStack {
  config: StackConfig;
  /** The env file's values plus STACK_DIR and STACK_*_PORT, as the scripts read them. */
  env: Record<string, string>;
}

// Stacks started and not yet stopped.
const running = new Set<ThrowawayStack>();
// Gateways started and not yet stopped: stopThrowawayStacks stops them first.
const gateways = new Set<Gateway>();

async function portInUse(port: number): Promise<boolean> {
  try {
    (await Deno.connect({ hostname: "127.0.0.1", port })).close();
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts a fresh stack with `timescaleNodes` Timescale nodes (none attached but the first) in a
 * new temporary directory named after `purpose`. Refuses to start when a port is taken (most
 * likely another run of the same command), instead of using someone else's data.
 *
 * @example
 * const stack = await startThrowawayStack("test", { supabasePort: 25322, ... }, 3);
 */
export async function startThrowawayStack(
  purpose: string,
  ports: StackPorts,
  timescaleNodes = 1,
): Promise<ThrowawayStack> {
  const config: StackConfig = { dir: "", ...ports, timescaleNodes };
  const taken = [
    ports.functionsPort,
    ports.supabasePort,
    ...Array.from({ length: timescaleNodes }, (_, k) => timescaleNodePort(config, k + 1)),
  ];
  for (const port of taken) {
    if (await portInUse(port)) {
      throw new Error(`127.0.0.1:${port} is in use: is another ${purpose} run going on?`);
    }
  }
  const tmp = Deno.makeTempDirSync({ prefix: `fdw-bridge-${purpose}-` });
  // Clusters run as the postgres OS user when we are root: it must reach the directory.
  Deno.chmodSync(tmp, 0o755);
  config.dir = join(tmp, "stack");
  log(`${purpose} stack in ${config.dir}`);
  const stack = { config, env: {} };
  // Registered before stackUp, so a stack that fails half-way is torn down too.
  running.add(stack);
  await stackUp(config);
  stack.env = {
    ...readEnvFile(envFile(config)),
    STACK_DIR: config.dir,
    STACK_SUPABASE_PORT: String(config.supabasePort),
    STACK_TIMESCALE_PORT: String(config.timescalePort),
    STACK_FUNCTIONS_PORT: String(config.functionsPort),
    STACK_TIMESCALE_NODES: String(timescaleNodes),
  };
  return stack;
}

/**
 * Stops every gateway and every throwaway stack started, even one still starting, and deletes
 * their directories.
 */
export async function stopThrowawayStacks() {
  await Promise.all([...gateways].map((gateway) => gateway.stop()));
  for (const stack of running) {
    running.delete(stack);
    await stackDown(stack.config).catch((error) => log(`teardown: ${error}`));
    await Deno.remove(join(stack.config.dir, ".."), { recursive: true })
      .catch((error) => log(`teardown: ${error}`));
  }
}

/** Runs scripts/seed.ts against the stack with `args`, its progress shown as it goes. */
export async function seedStack(stack: ThrowawayStack, args: string[]) {
  const { code } = await new Deno.Command(deno, {
    args: ["run", "-A", "scripts/seed.ts", ...args],
    cwd: repoRoot,
    env: stack.env,
    stdout: "inherit",
    stderr: "inherit",
  }).spawn().status;
  if (code !== 0) throw new Error(`seeding the stack failed (exit ${code})`);
}

/** The local functions gateway (scripts/serve-functions.ts) on the stack's functions port. */
export interface Gateway {
  url: string;
  /** True once it has exited without being asked to (e.g. signalled from outside). */
  exitedEarly(): boolean;
  stop(): Promise<void>;
}

/** Starts the gateway and waits until it listens. */
export async function startGateway(stack: ThrowawayStack): Promise<Gateway> {
  const child = new Deno.Command(deno, {
    args: ["run", "-A", "scripts/serve-functions.ts"],
    cwd: repoRoot,
    env: stack.env,
    stdin: "null",
    stdout: "null",
    stderr: "inherit",
  }).spawn();
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
      gateways.delete(gateway);
      try {
        child.kill("SIGTERM");
      } catch {
        // already exited
      }
      await child.status;
    },
  };
  gateways.add(gateway);
  const port = stack.config.functionsPort;
  const until = Date.now() + 60_000;
  while (!(await portInUse(port))) {
    if (Date.now() > until || exited) {
      await gateway.stop();
      throw new Error(`the functions gateway did not listen on 127.0.0.1:${port} within 60 s`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return gateway;
}
