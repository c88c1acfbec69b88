/**
 * Calling the bridge's RPC functions as the caller. One postgres.js pool per isolate on
 * SUPABASE_DB_URL; each call is one transaction that takes on the caller's role and JWT claims
 * exactly as PostgREST does, so grants and row level security decide what the caller gets,
 * never this code. Database errors become {@link BridgeError}s here, once.
 */
import postgres from "postgres";
import type { Caller } from "./auth.ts";
import type { Database } from "./database.types.ts";
import { env } from "./env.ts";
import { BridgeError } from "./errors.ts";

/**
 * How long one request's statements may run. Shorter than the request deadline (http.ts), so
 * the database gives up, and cancels the query on the Timescale node, before the caller does.
 */
const STATEMENT_TIMEOUT_MS = 8_000;

type Functions = Database["public"]["Functions"];

/** The name of an RPC function in schema public, as the generated types know them. */
export type RpcName = keyof Functions;

/** An RPC's arguments by parameter name; absent ones take the function's defaults. */
export type RpcArgs<Name extends RpcName> = Functions[Name]["Args"];

/** The rows an RPC returns. */
export type RpcRows<Name extends RpcName> = Functions[Name]["Returns"];

let pool: postgres.Sql | undefined;

// Values arrive as the generated types describe them (what PostgREST would send): int8 as a
// number, timestamptz as an ISO 8601 string with its full microsecond precision, since keyset
// pagination feeds a row's time back as the next page's bound.
function database(): postgres.Sql {
  pool ??= postgres(env().databaseUrl, {
    // Supavisor's transaction mode cannot keep named prepared statements.
    prepare: false,
    max: 5,
    idle_timeout: 20,
    connect_timeout: 5,
    connection: { application_name: "fdw-bridge-functions" },
    onnotice: () => {},
    types: {
      int8: { to: 20, from: [20], serialize: String, parse: Number },
      timestamptz: { to: 1184, from: [1184], serialize: String, parse: isoTimestamp },
    },
  });
  return pool;
}

/** Postgres' ISO output in UTC ("2026-10-01 12:00:00.123456+00") as RFC 3339. */
function isoTimestamp(text: string): string {
  return text.replace(" ", "T").replace(/\+00$/, "Z");
}

/**
 * Calls `public.<name>(...)` with named arguments as `caller`, in one transaction:
 * `set local role`, `request.jwt.claims` and a statement timeout, then the call.
 *
 * @example
 * const rows = await callRpc(caller, "search_events", { query_embedding: "[0.1, ...]" });
 */
export async function callRpc<Name extends RpcName>(
  caller: Caller,
  name: Name,
  args: RpcArgs<Name>,
): Promise<RpcRows<Name>> {
  const given = Object.entries(args).filter(([, value]) => value !== undefined);
  for (const identifier of [name, ...given.map(([parameter]) => parameter)]) {
    if (!/^[a-z_][a-z0-9_]*$/.test(identifier)) throw new Error(`bad identifier ${identifier}`);
  }
  const call = `select * from public.${name}(` +
    given.map(([parameter], i) => `${parameter} => $${i + 1}`).join(", ") + ")";
  try {
    return await database().begin(async (sql) => {
      // set_config(..., true) is SET LOCAL; the role comes from the verified token and is one
      // of auth.ts's allowlist. UTC makes every timestamptz leave as ...Z.
      await sql`
        select set_config('role', ${caller.role}, true),
               set_config('request.jwt.claims', ${JSON.stringify(caller.claims)}, true),
               set_config('statement_timeout', ${String(STATEMENT_TIMEOUT_MS)}, true),
               set_config('timezone', 'UTC', true)`;
      const values = given.map(([, value]) => value as postgres.ParameterOrJSON<never>);
      return await sql.unsafe<RpcRows<Name>>(call, values);
    });
  } catch (error) {
    throw databaseError(error);
  }
}

/** Closes the pool (the local gateway's shutdown; an isolate just ends). */
export async function closeDatabase() {
  const ending = pool;
  pool = undefined;
  await ending?.end({ timeout: 1 });
}

// The FDW relays a down node as class 08 (connection exception): 08001 when it cannot connect,
// 08006 when the connection breaks, including libpq's own failures, which carry no SQLSTATE of
// their own. HV00N is the SQL/MED code for the same (fdw_unable_to_establish_connection). A node
// shutting down while a query runs arrives as 57P01..57P03. Only codes are read, never
// messages, which follow each server's lc_messages.
const nodeDown = (code: string) =>
  code.startsWith("08") || code === "HV00N" || /^57P0[123]$/.test(code);

// A node attached beside the default one has the server events_ts_<node> (bridge.attach_node),
// which the FDW's message quotes whatever the server's language: the 503 names that node.
const attachedNode = (message: string) => message.match(/"events_ts_([a-z][a-z0-9_]*)"/)?.[1];

// postgres.js' own codes when the project database itself cannot be reached.
const poolDown = new Set([
  "CONNECT_TIMEOUT",
  "CONNECTION_CLOSED",
  "CONNECTION_DESTROYED",
  "CONNECTION_ENDED",
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EHOSTUNREACH",
]);

/**
 * The caller-facing error for a database failure: the RPC's own 22023 (and any other data
 * exception) is the caller's 400 with its message; a denied grant is 403; a down node, or no
 * free connection to the project database, 503; a statement timeout 504. Anything else stays
 * unexpected (a logged 500), so no SQL text or connection string reaches a caller.
 *
 * @example
 * try { await sql`...`; } catch (error) { throw databaseError(error); }
 */
export function databaseError(error: unknown): unknown {
  if (error instanceof BridgeError || !(error instanceof Error)) return error;
  const code = String((error as { code?: unknown }).code ?? "");
  if (code === "57014") {
    return new BridgeError(
      "timeout",
      `the query ran longer than ${STATEMENT_TIMEOUT_MS / 1000} s and was cancelled: ` +
        "narrow the time range or ask for fewer rows",
    );
  }
  if (nodeDown(code)) {
    console.error("the Timescale node is unreachable:", error.message);
    const node = attachedNode(error.message);
    return new BridgeError(
      "unavailable",
      `the Timescale node ${node ? `"${node}" ` : ""}is not answering: try again shortly`,
    );
  }
  if (poolDown.has(code)) {
    console.error("the database is unreachable:", code);
    return new BridgeError("unavailable", "the database is not answering: try again shortly");
  }
  // too_many_connections: every connection slot of the project database (or its pooler) is
  // taken, so the pool could not open one.
  if (code === "53300") {
    console.error("the database has no free connection:", error.message);
    return new BridgeError(
      "unavailable",
      "the database has no free connection: try again shortly",
    );
  }
  if (code.startsWith("22")) return new BridgeError("invalid_input", error.message);
  if (code === "42501") {
    return new BridgeError("forbidden", "permission denied: your role may not do this");
  }
  return error;
}
