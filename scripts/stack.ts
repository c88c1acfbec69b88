/**
 * `up [--timescale-nodes N] [--supabase-pg 15|17]`, `down`, `status`, `reset` for the stack
 * stackConfig() reads; nodes 2..N run on the ports after the first node's, attached to the bridge
 * as cold tiers by time; the Supabase side runs PostgreSQL 17 unless asked for 15.
 */
import { parseArgs } from "node:util";
import { stackConfig, supabasePgVersion, timescaleNodeCount } from "./stack/config.ts";
import { attachTimeTiers, stackDown, stackReset, stackStatus, stackUp } from "./stack/lifecycle.ts";

const [name, ...args] = Deno.args;
const commands: Record<string, () => Promise<boolean | void>> = {
  async up() {
    const options = {
      "timescale-nodes": { type: "string" },
      "supabase-pg": { type: "string" },
    } as const;
    const { values } = parseArgs({ args, options });
    const config = stackConfig();
    const nodes = values["timescale-nodes"];
    if (nodes !== undefined) config.timescaleNodes = timescaleNodeCount(nodes);
    const version = values["supabase-pg"];
    if (version !== undefined) config.supabasePg = supabasePgVersion(version);
    await stackUp(config);
    await attachTimeTiers(config);
  },
  down: () => stackDown(stackConfig()),
  status: () => stackStatus(stackConfig()),
  reset: () => stackReset(stackConfig()),
};

if (!Object.hasOwn(commands, name)) {
  console.error(`usage: stack.ts ${Object.keys(commands).join("|")}`);
  Deno.exit(2);
}
try {
  Deno.exit(await commands[name]() === false ? 1 : 0);
} catch (error) {
  console.error(`stack: ${(error as Error).message}`);
  Deno.exit(1);
}
