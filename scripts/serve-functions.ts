/**
 * The local stand-in for the platform's API gateway, on 127.0.0.1:STACK_FUNCTIONS_PORT (default
 * 54321), the stack's SUPABASE_URL:
 *
 * - `/functions/v1/<name>`: the upload `supabase functions deploy` made of function <name>, run
 *   by stack/function-workers.ts with only the variables a hosted project gives its functions,
 *   plus the secrets of `--env-file <file>` (as `supabase functions serve --env-file` takes them);
 * - `/v1/projects/<ref>/...`: the Management API's deploy endpoints (stack/management-api.ts),
 *   which the stack's CLI profile points at, so a deploy replaces what is served;
 * - `/auth/v1/.well-known/jwks.json`: the project's key set.
 *
 * Run as a script, it serves the uploads the stack's last deploy left.
 */
import { parseArgs } from "node:util";
import { type StackConfig, stackConfig } from "./stack/config.ts";
import { envFile, hostedFunctionEnv, readEnvFile } from "./stack/env.ts";
import { bundle, FunctionWorkers } from "./stack/function-workers.ts";
import { liveDeployments, managementApi } from "./stack/management-api.ts";
import { BridgeError, errorResponse } from "../functions/_shared/errors.ts";
import { corsHeaders } from "../functions/_shared/http.ts";

export interface FunctionsGateway {
  workers: FunctionWorkers;
  stop(): Promise<void>;
}

/**
 * Starts the gateway for the stack in `config`; with `serveLastDeploy`, the functions the stack's
 * last deploy left are served at once.
 */
export async function serveFunctions(
  config: StackConfig,
  { secrets = {}, serveLastDeploy = false }: {
    secrets?: Record<string, string>;
    serveLastDeploy?: boolean;
  } = {},
): Promise<FunctionsGateway> {
  const env = readEnvFile(envFile(config));
  const workers = new FunctionWorkers({ ...hostedFunctionEnv(env), ...secrets });
  if (serveLastDeploy) {
    for (const deployment of liveDeployments(config.dir)) await workers.serve(deployment);
  }
  const platform = managementApi({
    stackDir: config.dir,
    projectRef: env.STACK_PROJECT_REF,
    accessToken: env.STACK_ACCESS_TOKEN,
    bundle,
    goLive: (deployment) => workers.serve(deployment),
    remove: (slug) => workers.remove(slug),
  });

  /** The function's request has the path it would see deployed: /<name>[/...]. */
  async function route(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname === "/auth/v1/.well-known/jwks.json") {
      const headers = { "content-type": "application/json", ...corsHeaders };
      return new Response(env.SUPABASE_JWKS, { headers });
    }
    const platformAnswer = await platform(request);
    if (platformAnswer) return platformAnswer;
    const [, name] = url.pathname.match(/^\/functions\/v1\/([^/]+)/) ?? [];
    const path = url.pathname.slice("/functions/v1".length) + url.search;
    const answer = name ? workers.fetch(name, path, request) : undefined;
    if (!answer) {
      const what = name ? `no function named ${JSON.stringify(name)}` : "no such route";
      const error = new BridgeError("not_found", `${what}: functions are at /functions/v1/<name>`);
      return errorResponse(error, corsHeaders);
    }
    return await answer.catch((error) => {
      console.error(`${name}: ${error}`);
      return errorResponse(
        new BridgeError("unavailable", `function ${name} is not answering`),
        corsHeaders,
      );
    });
  }

  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: config.functionsPort,
    onListen: () => {},
  }, route);
  return {
    workers,
    async stop() {
      await server.shutdown();
      await workers.stopAll();
    },
  };
}

if (import.meta.main) {
  const { values } = parseArgs({ args: Deno.args, options: { "env-file": { type: "string" } } });
  const secrets = values["env-file"] ? readEnvFile(values["env-file"]) : {};
  const config = stackConfig();
  const gateway = await serveFunctions(config, { secrets, serveLastDeploy: true });
  const served = gateway.workers.slugs.join(", ") || "none yet";
  console.log(
    `functions (${served}) at http://127.0.0.1:${config.functionsPort}/functions/v1/<name>`,
  );
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, async () => {
      await gateway.stop();
      Deno.exit(0);
    });
  }
}
