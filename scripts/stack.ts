/**
 * `up [--timescale-nodes N]`, `down`, `status`, `reset` for the stack stackConfig() reads; nodes
 * 2..N run on the ports after the first node's, attached to the bridge as cold tiers by time.
 */
import { parseArgs } from "node:util";
import { stackConfig, timescaleNodeCount } from "./stack/config.ts";
import { attachTimeTiers, stackDown, stackReset, stackStatus, stackUp } from "./stack/lifecycle.ts";

const [name, ...args] = Deno.args;
const commands: Record<string, () => Promise<boolean | void>> = {
  async up() {
    const { values } = parseArgs({ args, options: { "timescale-nodes": { type: "string" } } });
    const config = stackConfig();
    const nodes = values["timescale-nodes"];
    if (nodes !== undefined) config.timescaleNodes = timescaleNodeCount(nodes);
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
