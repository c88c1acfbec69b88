/**
 * The local stack's command line: `up`, `down`, `status`, `reset`.
 * Reads STACK_DIR and STACK_*_PORT (scripts/stack/config.ts) to run a stack other than `.stack/`.
 */
import { stackConfig } from "./stack/config.ts";
import { stackDown, stackReset, stackStatus, stackUp } from "./stack/lifecycle.ts";

const commands: Record<string, () => Promise<boolean | void>> = {
  up: () => stackUp(stackConfig()),
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
