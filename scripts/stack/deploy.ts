/**
 * `supabase functions deploy`, the real CLI, against the stack's stand-in for the Management API
 * (management-api.ts, served by the functions gateway): the CLI reads the API's address from a
 * profile (`api_url`), and deploys with the stack's access token and project ref.
 */
import { join } from "node:path";
import { repoRoot, type StackConfig } from "./config.ts";
import { envFile, readEnvFile } from "./env.ts";
import { run } from "./postgres.ts";

/** The CLI profile that points the Management API at the stack's gateway. */
export function profileFile(config: StackConfig): string {
  const file = join(config.dir, "cli-profile.yml");
  const api = `http://127.0.0.1:${config.functionsPort}`;
  const profile = [
    "name: fdw-bridge-local-stack",
    `api_url: ${api}`,
    `dashboard_url: ${api}`,
    "project_host: 127.0.0.1",
  ];
  Deno.writeTextFileSync(file, profile.join("\n") + "\n");
  return file;
}

/**
 * Deploys `names` (every function when empty) from the project in `workdir` to the stack, and
 * returns the CLI's output; a failed deploy throws with the CLI's own message.
 */
export async function deployFunctions(
  config: StackConfig,
  names: string[] = [],
  workdir = repoRoot,
): Promise<string> {
  const env = readEnvFile(envFile(config));
  const args = [
    ...["functions", "deploy", ...names, "--profile", profileFile(config)],
    ...[`--remote=${env.STACK_PROJECT_REF}`, "--workdir", workdir, "--yes"],
  ];
  const output = await run(join(repoRoot, "node_modules", ".bin", "supabase"), args, {
    env: {
      SUPABASE_ACCESS_TOKEN: env.STACK_ACCESS_TOKEN,
      SUPABASE_TELEMETRY_DISABLED: "1",
      DO_NOT_TRACK: "1",
      NO_COLOR: "1",
    },
  });
  return output;
}
