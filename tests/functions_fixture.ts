/**
 * What the Edge Function tests add to tests/fixture.ts: callers with every kind of token,
 * supabase-js clients for them against the served functions, a count of the statements that
 * reached the Supabase node, and stopping and starting the Timescale node.
 */
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { SignJWT } from "jose";
import { stackConfig } from "../scripts/stack/config.ts";
import { startNode, stopNode } from "../scripts/stack/lifecycle.ts";
import { type ErrorBody } from "../functions/_shared/errors.ts";
import { EMBEDDING_DIMENSIONS } from "../functions/_shared/schemas.ts";
import { connect, env, seedUserId } from "./fixture.ts";

export { seedUserId };

/**
 * An HS256 token signed with the stack's JWT secret (or `secret`), valid for an hour unless
 * `exp` says otherwise.
 */
export function signToken(
  claims: Record<string, unknown>,
  { secret = env("SUPABASE_JWT_SECRET"), expiresIn = 3600 } = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: "supabase-local", ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(now)
    .setExpirationTime(now + expiresIn)
    .sign(new TextEncoder().encode(secret));
}

/** A signed-in seed user's access token, as Supabase Auth issues it. */
export function userToken(i: number): Promise<string> {
  return signToken({ sub: seedUserId(i), role: "authenticated", aud: "authenticated" });
}

/**
 * A supabase-js client on the served functions. Like an app's, it sends the anon key as
 * `apikey`; `bearer` is its Authorization (a session's token, or an API key), and `null`
 * sends no Authorization header at all.
 */
export function clientWith(bearer: string | null): SupabaseClient {
  const stripAuthorization: typeof fetch = (input, init) => {
    const headers = new Headers(init?.headers);
    headers.delete("authorization");
    return fetch(input, { ...init, headers });
  };
  return createClient(env("SUPABASE_URL"), env("SUPABASE_ANON_KEY"), {
    auth: { persistSession: false, autoRefreshToken: false },
    global: bearer === null
      ? { fetch: stripAuthorization }
      : { headers: { Authorization: `Bearer ${bearer}` } },
  });
}

/** The client of the service role, as a server of the app's would hold it. */
export const serviceClient = () => clientWith(env("SUPABASE_SERVICE_ROLE_KEY"));

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

/**
 * How many statements that call a bridge RPC or take on a caller's JWT claims (every function
 * request's first statement) the Supabase node has run, from pg_stat_statements.
 */
export async function bridgeStatementCount(): Promise<number> {
  const sql = connect("supabase");
  try {
    const [{ calls }] = await sql`
      select coalesce(sum(calls), 0)::int as calls
        from extensions.pg_stat_statements
       where query ~* ${"search_events|mission_activity|event_histogram|bridge_health|request\\.jwt\\.claims"}`;
    return calls;
  } finally {
    await sql.end();
  }
}

/** A unit-length embedding pointing along a deterministic direction chosen by `seed`. */
export function embedding(seed: number): number[] {
  const values = Array.from(
    { length: EMBEDDING_DIMENSIONS },
    (_, i) => Math.sin(seed * 7.1 + i * 0.37) + Math.cos(seed * 3.3 + i * 1.7),
  );
  const norm = Math.hypot(...values);
  return values.map((value) => value / norm);
}

/** Stops the stack's Timescale node (fast shutdown: open connections are cut). */
export const stopTimescale = () => stopNode(stackConfig(), "timescale");

/** Starts the stack's Timescale node again and waits until it accepts connections. */
export const startTimescale = () => startNode(stackConfig(), "timescale");
