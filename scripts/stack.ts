/**
 * The local stack's command line: `up [--timescale-nodes N]`, `down`, `status`, `reset`.
 * Reads STACK_DIR and STACK_*_PORT (scripts/stack/config.ts) to run a stack other than `.stack/`.
 * With N Timescale nodes (default 1), nodes 2..N run on the ports after the first node's and are
 * attached to the bridge as cold tiers by time.
 */
import { parseArgs } from "node:util";
import { stackConfig, timescaleNodeCount } from "./stack/config.ts";
import { attachTimeTiers, stackDown, stackReset, stackStatus, stackUp } from "./stack/lifecycle.ts";

async function up() {
  const { values } = parseArgs({
    args: Deno.args.slice(1),
    options: { "timescale-nodes": { type: "string" } },
  });
  const config = stackConfig();
  const nodes = values["timescale-nodes"];
  if (nodes !== undefined) config.timescaleNodes = timescaleNodeCount(nodes);
  await stackUp(config);
  await attachTimeTiers(config);
}

const commands: Record<string, () => Promise<boolean | void>> = {
  up,
  down: () => stackDown(stackConfig()),
  status: () => stackStatus(stackConfig()),
  reset: () => stackReset(stackConfig()),
};

const command = commands[Deno.args[0]];
if (!command) {
  console.error(`usage: stack.ts ${Object.keys(commands).join("|")}`);
  Deno.exit(2);
}
try {
  const result = await command();
  Deno.exit(result === false ? 1 : 0);
} catch (error) {
  console.error(`stack: ${(error as Error).message}`);
  Deno.exit(1);
}
