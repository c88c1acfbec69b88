/**
 * The local stand-in for the platform's functions router, on 127.0.0.1:STACK_FUNCTIONS_PORT
 * (default 54321): each functions/<name>/index.ts, the deployed entrypoint with its
 * `export default { fetch }`, at /functions/v1/<name>, and the project's key set at
 * /auth/v1/.well-known/jwks.json, as the stack's SUPABASE_URL publishes it. The functions get
 * the variables a hosted project gives them, from the stack's env file unless already set, and
 * an operator's secrets (such as BRIDGE_LEGACY_JWT_SECRET) from the environment.
 */
import { stackConfig } from "./stack/config.ts";
import { envFile, hostedFunctionEnv, readEnvFile } from "./stack/env.ts";
import { closeDatabase } from "../functions/_shared/db.ts";
import { BridgeError, errorResponse } from "../functions/_shared/errors.ts";
import { corsHeaders } from "../functions/_shared/http.ts";

type Handler = (request: Request) => Response | Promise<Response>;

const config = stackConfig();
for (const [name, value] of Object.entries(hostedFunctionEnv(readEnvFile(envFile(config))))) {
  if (Deno.env.get(name) === undefined) Deno.env.set(name, value);
}

const functionsDir = new URL("../functions/", import.meta.url);
const names = [...Deno.readDirSync(functionsDir)]
  .filter((entry) => entry.isDirectory && /^[a-z0-9][a-z0-9-]*$/.test(entry.name))
  .map((entry) => entry.name)
  .sort();
const handlers = new Map<string, Handler>();
for (const name of names) {
  const entrypoint = new URL(`${name}/index.ts`, functionsDir).href;
  const handler = (await import(entrypoint)).default?.fetch;
  if (typeof handler !== "function") {
    throw new Error(`${entrypoint} does not export default { fetch }`);
  }
  handlers.set(name, handler);
}

/** The function's request has the path it would see deployed: /<name>[/...]. */
function route(request: Request): Response | Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === "/auth/v1/.well-known/jwks.json") {
    const headers = { "content-type": "application/json", ...corsHeaders };
    return new Response(Deno.env.get("SUPABASE_JWKS"), { headers });
  }
  const [, name] = url.pathname.match(/^\/functions\/v1\/([^/]+)/) ?? [];
  const handler = handlers.get(name);
  if (!handler) {
    const what = name ? `no function named ${JSON.stringify(name)}` : "no such route";
    const error = new BridgeError("not_found", `${what}: functions are at /functions/v1/<name>`);
    return errorResponse(error, corsHeaders);
  }
  url.pathname = url.pathname.slice("/functions/v1".length);
  // A fresh request rather than new Request(url, request), which would tie it to the
  // original's abort signal.
  const { method, headers, body } = request;
  return handler(new Request(url, { method, headers, body }));
}

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: config.functionsPort,
  onListen: ({ port }) =>
    console.log(`functions: ${names.join(", ")} at http://127.0.0.1:${port}/functions/v1/<name>`),
}, route);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    await server.shutdown();
    await closeDatabase();
  });
}
