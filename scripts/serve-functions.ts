/**
 * The local Edge Functions gateway: every function under functions/ at
 * `http://127.0.0.1:<port>/functions/v1/<name>`, as the platform serves them, so an app's
 * `supabase.functions.invoke` works unchanged against the local stack. It is also the stack's
 * SUPABASE_URL, so it publishes the project's key set at `/auth/v1/.well-known/jwks.json`.
 *
 *   deno run -A scripts/serve-functions.ts        (port: STACK_FUNCTIONS_PORT, default 54321)
 *
 * Each functions/<name>/index.ts is the deployed entrypoint and exports its handler as
 * `export default { fetch }`; the gateway imports it and routes to it, so the same file runs
 * deployed and here. The functions get the variables a hosted project gives them, from the
 * stack's env file unless already set in the environment, and an operator's secrets (such as
 * BRIDGE_LEGACY_JWT_SECRET) from the environment.
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { repoRoot, stackConfig } from "./stack/config.ts";
import { envFile, hostedFunctionEnv, readEnvFile } from "./stack/env.ts";
import { closeDatabase } from "../functions/_shared/db.ts";
import { BridgeError, errorResponse } from "../functions/_shared/errors.ts";
import { corsHeaders } from "../functions/_shared/http.ts";

type Handler = (request: Request) => Response | Promise<Response>;

/** Where and what to serve; every field has the stack's default. */
export interface ServeFunctionsOptions {
  /** Port on 127.0.0.1; 0 picks a free one. Default: stackConfig().functionsPort. */
  port?: number;
  /** The folder holding one folder per function. Default: the repository's functions/. */
  functionsDir?: string;
  /** The env file to read. Default: the stack's (`<STACK_DIR>/env`). */
  envFile?: string;
  /** Print the URL when listening. Default: true. */
  log?: boolean;
}

/** A running gateway. */
export interface FunctionsServer {
  /** The base URL to give supabase-js as SUPABASE_URL, e.g. http://127.0.0.1:54321. */
  url: string;
  /** The functions served, by name. */
  names: string[];
  /** Stops listening and closes the functions' database pool. */
  shutdown(): Promise<void>;
  /** Settles when the server has stopped. */
  finished: Promise<void>;
}

/**
 * Loads every function and serves them until `shutdown()`.
 *
 * @example
 * const gateway = await serveFunctions({ port: 0, log: false });
 * const supabase = createClient(gateway.url, anonKey);
 * await gateway.shutdown();
 */
async function serveFunctions(
  options: ServeFunctionsOptions = {},
): Promise<FunctionsServer> {
  const config = stackConfig();
  const stackValues = readEnvFile(options.envFile ?? envFile(config));
  for (const [name, value] of Object.entries(hostedFunctionEnv(stackValues))) {
    if (Deno.env.get(name) === undefined) Deno.env.set(name, value);
  }
  const handlers = await loadFunctions(options.functionsDir ?? join(repoRoot, "functions"));
  const names = [...handlers.keys()].sort();

  const listening = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: options.port ?? config.functionsPort,
    onListen: listening.resolve,
  }, (request) => route(handlers, request));
  const address = await listening.promise;
  const url = `http://127.0.0.1:${address.port}`;
  if (options.log ?? true) {
    console.log(`functions: ${names.join(", ")} at ${url}/functions/v1/<name>`);
  }
  return {
    url,
    names,
    finished: server.finished,
    async shutdown() {
      await server.shutdown();
      await closeDatabase();
    },
  };
}

/** Imports each functions/<name>/index.ts and takes the fetch handler it exports by default. */
async function loadFunctions(folder: string): Promise<Map<string, Handler>> {
  const handlers = new Map<string, Handler>();
  const names = [...Deno.readDirSync(folder)]
    .filter((entry) => entry.isDirectory && /^[a-z0-9][a-z0-9-]*$/.test(entry.name))
    .map((entry) => entry.name)
    .sort();
  for (const name of names) {
    const entrypoint = pathToFileURL(join(folder, name, "index.ts")).href;
    const exported = (await import(entrypoint)).default as { fetch?: Handler } | undefined;
    if (typeof exported?.fetch !== "function") {
      throw new Error(`${entrypoint} does not export default { fetch }`);
    }
    handlers.set(name, exported.fetch);
  }
  return handlers;
}

/**
 * /functions/v1/<name>[/...] to the function, with the path it would see deployed: /<name>[/...];
 * /auth/v1/.well-known/jwks.json to the project's key set, as Supabase Auth publishes it.
 */
function route(handlers: Map<string, Handler>, request: Request): Response | Promise<Response> {
  const url = new URL(request.url);
  if (url.pathname === "/auth/v1/.well-known/jwks.json") {
    return new Response(Deno.env.get("SUPABASE_JWKS"), {
      headers: { "content-type": "application/json", ...corsHeaders },
    });
  }
  const [, name] = url.pathname.match(/^\/functions\/v1\/([^/]+)/) ?? [];
  const handler = name ? handlers.get(name) : undefined;
  if (!handler) {
    const what = name ? `no function named ${JSON.stringify(name)}` : "no such route";
    return errorResponse(
      new BridgeError("not_found", `${what}: functions are at /functions/v1/<name>`),
      corsHeaders,
    );
  }
  url.pathname = url.pathname.slice("/functions/v1".length);
  // A fresh request rather than new Request(url, request), which would tie it to the
  // original's abort signal.
  const { method, headers, body } = request;
  return handler(new Request(url, { method, headers, body }));
}

if (import.meta.main) {
  const gateway = await serveFunctions();
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => gateway.shutdown());
  }
  await gateway.finished;
}
