/**
 * What the Edge Function tests add to tests/support/fixture.ts: the stack's API keys, sessions
 * signed with its JWT signing key, supabase-js clients for them against the served functions, and
 * calls that expect a 200 or a 503.
 */
import assert from "node:assert/strict";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { type SignOptions, signSession } from "../../scripts/stack/auth.ts";
import { repoRoot } from "../../scripts/stack/config.ts";
import { type ErrorBody } from "../../functions/_shared/errors.ts";
import { LIMITS } from "../../functions/_shared/schemas.ts";
import { env, seedUserId } from "./fixture.ts";

export { seedUserId };

/** The project's default publishable key (`sb_publishable_…`). */
export const publishableKey = () => JSON.parse(env("SUPABASE_PUBLISHABLE_KEYS")).default as string;

/** The project's default secret key (`sb_secret_…`). */
export const secretKey = () => JSON.parse(env("SUPABASE_SECRET_KEYS")).default as string;

/** A session for any user id, signed with the stack's JWT signing key as Supabase Auth does. */
export function sessionFor(userId: string, options?: SignOptions): Promise<string> {
  return signSession(JSON.parse(env("JWT_SIGNING_KEY")), env("SUPABASE_URL"), userId, options);
}

/** A signed-in seed user's access token. */
export function userToken(i: number, options?: SignOptions): Promise<string> {
  return sessionFor(seedUserId(i), options);
}

/**
 * A supabase-js client on the served functions, as an app holds it: created with the
 * publishable key and, once the user has signed in, sending the session's access token
 * (`session`). Without one it is an app before sign-in.
 */
export function clientWith(session?: string, url = env("SUPABASE_URL")): SupabaseClient {
  return createClient(url, publishableKey(), {
    auth: { persistSession: false, autoRefreshToken: false },
    ...(session === undefined ? {} : { accessToken: () => Promise.resolve(session) }),
  });
}

/** A supabase-js client signed in as seed user `i`. */
export const userClient = async (i: number) => clientWith(await userToken(i));

/** The client of the service role, as a server of the app's would hold it: the secret key. */
export const serviceClient = (url = env("SUPABASE_URL")) =>
  createClient(url, secretKey(), { auth: { persistSession: false, autoRefreshToken: false } });

/** What a function answered: the status, the JSON body and the headers. */
export interface Answer<T = unknown> {
  status: number;
  body: T;
  headers: Headers;
}

/**
 * Invokes a function through supabase-js and returns the answer whatever its status, with the
 * body parsed as JSON (error answers included).
 */
export async function invoke<T = unknown>(
  client: SupabaseClient,
  name: string,
  options: Parameters<SupabaseClient["functions"]["invoke"]>[1] = {},
): Promise<Answer<T>> {
  const { data, error, response } = await client.functions.invoke(name, options);
  if (error && !response) throw error;
  const body = error ? await response!.json() : data;
  return { status: response!.status, body: body as T, headers: response!.headers };
}

/** The error of an error answer, or a failure saying what came instead. */
export function errorOf(answer: Answer): ErrorBody["error"] {
  const error = (answer.body as Partial<ErrorBody>)?.error;
  if (!error) {
    throw new Error(`expected an error, got ${answer.status} ${JSON.stringify(answer.body)}`);
  }
  return error;
}

/** The body of `name`'s 200 answer to `body`, or a failure naming the status and body. */
export async function okBody<T>(client: SupabaseClient, name: string, body: unknown): Promise<T> {
  const answer = await invoke<T>(client, name, { body: body as Record<string, unknown> });
  assert.equal(answer.status, 200, `${name}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

/** Asserts that `name` answers `body` within 5 s with a 503 `unavailable` saying `message`. */
export async function assertUnavailable(
  client: SupabaseClient,
  name: string,
  body: unknown,
  message: string,
) {
  const started = performance.now();
  const down = await invoke(client, name, { body: body as Record<string, unknown> });
  const elapsed = performance.now() - started;
  assert.equal(down.status, 503, JSON.stringify(down.body));
  assert.deepEqual(errorOf(down), { code: "unavailable", message });
  assert.ok(elapsed < 5000, `the 503 took ${Math.round(elapsed)} ms`);
}

/** A unit-length embedding pointing along a deterministic direction chosen by `seed`. */
export function embedding(seed: number): number[] {
  const values = Array.from(
    { length: LIMITS.embeddingDimensions },
    (_, i) => Math.sin(seed * 7.1 + i * 0.37) + Math.cos(seed * 3.3 + i * 1.7),
  );
  const norm = Math.hypot(...values);
  return values.map((value) => value / norm);
}

/**
 * A port for a test's own server, beside the test stack's: its functions port plus 2 + n (the
 * stack uses +1 and +11 of the same base).
 */
export const spareTestPort = (n: number) => Number(env("STACK_FUNCTIONS_PORT")) + 2 + n;

/** A server a test started as a child process. */
export interface ChildServer {
  url: string;
  stop(): Promise<void>;
}

/** Waits until something listens on the port, or fails once `child` exits or time is up. */
export async function waitForServer(child: Deno.ChildProcess, port: number): Promise<void> {
  let exited = false;
  child.status.then(() => exited = true);
  const until = Date.now() + 60_000;
  while (!exited && Date.now() < until) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  throw new Error(`nothing listens on 127.0.0.1:${port}${exited ? ": the server exited" : ""}`);
}

/** Stops a child server (by default, gracefully) and waits for it to end. */
export async function stopChild(
  child: Deno.ChildProcess,
  signal: Deno.Signal = "SIGTERM",
): Promise<void> {
  try {
    child.kill(signal);
  } catch {
    // already ended
  }
  await child.status;
}

/**
 * A second local gateway (scripts/serve-functions.ts) on `port`, for the same stack, serving the
 * same deployed functions with `secrets` given to them, as an operator sets them with
 * `supabase secrets set`.
 */
export async function startGateway(
  port: number,
  secrets: Record<string, string>,
): Promise<ChildServer> {
  const secretsFile = Deno.makeTempFileSync({ prefix: "function-secrets-" });
  const lines = Object.entries(secrets).map(([name, value]) => `${name}=${value}\n`);
  Deno.writeTextFileSync(secretsFile, lines.join(""));
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "scripts/serve-functions.ts", "--env-file", secretsFile],
    cwd: repoRoot,
    env: { STACK_FUNCTIONS_PORT: String(port) },
    stdout: "null",
    stderr: "inherit",
  }).spawn();
  try {
    await waitForServer(child, port);
  } finally {
    Deno.removeSync(secretsFile);
  }
  return { url: `http://127.0.0.1:${port}`, stop: () => stopChild(child) };
}
