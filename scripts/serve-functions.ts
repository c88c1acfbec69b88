/**
 * The local Edge Functions gateway: every function under functions/ at
 * `http://127.0.0.1:<port>/functions/v1/<name>`, as the platform serves them, so an app's
 * `supabase.functions.invoke` works unchanged against the local stack.
 *
 *   deno run -A scripts/serve-functions.ts        (port: STACK_FUNCTIONS_PORT, default 54321)
 *
 * Each functions/<name>/index.ts is the deployed entrypoint and calls `Deno.serve(handler)`
 * when imported. The gateway swaps Deno.serve for a stand-in while importing it, keeps the
 * handler, and routes to it, so the same file runs deployed and here. Configuration comes
 * from the stack's env file, with variables already set in the environment taking precedence.
 */
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { repoRoot, stackConfig } from "./stack/config.ts";
import { envFile, readEnvFile } from "./stack/env.ts";
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
export async function serveFunctions(
  options: ServeFunctionsOptions = {},
): Promise<FunctionsServer> {
  const config = stackConfig();
  for (const [name, value] of Object.entries(readEnvFile(options.envFile ?? envFile(config)))) {
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

// A module runs once per process: a second gateway in the same process (a test harness, say)
// reuses the handlers the first import captured.
const captured = new Map<string, Handler>();

/** Imports each functions/<name>/index.ts, capturing the handler it passes to Deno.serve. */
async function loadFunctions(folder: string): Promise<Map<string, Handler>> {
  const handlers = new Map<string, Handler>();
  const names = [...Deno.readDirSync(folder)]
    .filter((entry) => entry.isDirectory && /^[a-z0-9][a-z0-9-]*$/.test(entry.name))
    .map((entry) => entry.name)
    .sort();
  const realServe = Deno.serve;
  try {
    for (const name of names) {
      const entrypoint = pathToFileURL(join(folder, name, "index.ts")).href;
      // Deno.serve(handler), Deno.serve(options, handler) and Deno.serve({ handler }) alike.
      (Deno as { serve: unknown }).serve = (...args: unknown[]) => {
        const last = args[args.length - 1] as Handler | { handler: Handler };
        captured.set(entrypoint, typeof last === "function" ? last : last.handler);
        return { finished: Promise.resolve(), shutdown: async () => {}, ref() {}, unref() {} };
      };
      await import(entrypoint);
      const handler = captured.get(entrypoint);
      if (!handler) throw new Error(`${entrypoint} did not call Deno.serve(handler)`);
      handlers.set(name, handler);
    }
  } finally {
    (Deno as { serve: unknown }).serve = realServe;
  }
  return handlers;
}

/** /functions/v1/<name>[/...] to the function, with the path it would see deployed: /<name>[/...]. */
function route(handlers: Map<string, Handler>, request: Request): Response | Promise<Response> {
  const url = new URL(request.url);
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
