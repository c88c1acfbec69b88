/**
 * The foreign server and whether the Timescale node answers through it: the first two lines of
 * the report, and the gate for every check that reads the node.
 */
import {
  type CheckResult,
  describeError,
  fail,
  pass,
  rolledBack,
  serverName,
  type Sql,
} from "./check.ts";
import { openNodeCatalog } from "./node_catalog.ts";

/** The host the migration leaves until bridge.configure(...) sets the real one. */
const placeholderHost = "bridge-not-configured.invalid";

/** The server's options and the link user of the connecting role's user mapping. */
export interface ServerConfig {
  exists: boolean;
  wrapper?: string;
  options: Record<string, string>;
  currentUser: string;
  /** The node's role the link logs in as; undefined without a user mapping for currentUser. */
  linkUser?: string;
}

const toMap = (options: string[] | null) =>
  Object.fromEntries(
    (options ?? []).map((o) => [o.slice(0, o.indexOf("=")), o.slice(o.indexOf("=") + 1)]),
  );

/**
 * Reads the server's options and the user mapping postgres_fdw will use for this session
 * (the current user's, DESIGN.md fact 7), without contacting the node.
 */
export async function readServer(sql: Sql): Promise<ServerConfig> {
  const [row] = await sql`
    select current_user::text as current_user,
           s.srvoptions, w.fdwname::text as wrapper,
           (select m.umoptions from pg_catalog.pg_user_mappings m
             where m.srvid = s.oid and m.usename = current_user) as umoptions
      from (select 1) one
      left join pg_catalog.pg_foreign_server s on s.srvname = ${serverName}
      left join pg_catalog.pg_foreign_data_wrapper w on w.oid = s.srvfdw`;
  const mapping = row.umoptions === null ? undefined : toMap(row.umoptions);
  return {
    exists: row.wrapper !== null,
    wrapper: row.wrapper ?? undefined,
    options: toMap(row.srvoptions),
    currentUser: row.current_user,
    linkUser: mapping ? mapping.user ?? row.current_user : undefined,
  };
}

/** The server exists, ships pgvector's operators, is configured, and this role has a mapping. */
export function checkServer(server: ServerConfig): CheckResult {
  const name = "server";
  if (!server.exists) {
    return fail(
      name,
      `foreign server ${serverName} does not exist`,
      "apply the migrations: npx supabase db push",
    );
  }
  if (server.wrapper !== "postgres_fdw") {
    return fail(
      name,
      `${serverName} uses ${server.wrapper}, not postgres_fdw`,
      "drop it and apply supabase/migrations/20261125000200_bridge_server.sql",
    );
  }
  const { host, port, dbname, extensions } = server.options;
  const shipped = (extensions ?? "").split(",").map((e) => e.trim());
  if (!shipped.includes("vector")) {
    const verb = extensions === undefined ? "add" : "set";
    return fail(
      name,
      `${serverName} lacks extensions 'vector' (has ${extensions ?? "none"}): pgvector's ` +
        `operators stay local and every search pulls the whole table (DESIGN.md fact 1)`,
      `alter server ${serverName} options (${verb} extensions '${
        [...shipped.filter(Boolean), "vector"].join(",")
      }')`,
    );
  }
  if (!host || host === placeholderHost) {
    return fail(
      name,
      `${serverName} has no host yet (${host ?? "none"})`,
      "as postgres: select bridge.configure('<host>', 5432, 'postgres', 'bridge_reader', " +
        "'<link password>', 'verify-full') (docs/operations.md)",
    );
  }
  if (!server.linkUser) {
    return fail(
      name,
      `${server.currentUser} has no user mapping for ${serverName}, so the doctor cannot use the link`,
      "connect as the role that owns the bridge (postgres), or run bridge.configure(...) as it",
    );
  }
  return pass(
    name,
    `${serverName} → ${host}:${port ?? "5432"}/${dbname ?? server.currentUser} as ` +
      `${server.linkUser}, extensions '${extensions}'`,
  );
}

/** Time of one statement, in milliseconds with one decimal. */
async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return Math.round((performance.now() - start) * 10) / 10;
}

/**
 * The node answers through the link: the first query pays for the connection (TCP, TLS,
 * SCRAM), the second is one round trip on the open connection.
 */
export async function checkLink(sql: Sql, server: ServerConfig): Promise<CheckResult> {
  const name = "link";
  if (!server.exists || !server.linkUser) {
    return fail(name, "not checked: the server or its user mapping is missing", "see `server`");
  }
  try {
    return await rolledBack(sql, async (tx) => {
      const node = await openNodeCatalog(tx);
      // A connection cached by an earlier check would hide the cost of connecting.
      await tx`select extensions.postgres_fdw_disconnect(${serverName})`;
      let version = "";
      const connect = await timed(async () => {
        const [row] = await tx.unsafe(
          `select setting from ${node.pg_settings} where name = 'server_version'`,
        );
        version = row?.setting ?? "unknown";
      });
      const roundTrip = await timed(() =>
        tx.unsafe(`select 1 from ${node.pg_settings} where name = 'server_version'`)
      );
      return pass(
        name,
        `the node (PostgreSQL ${version}) answers: round trip ${roundTrip} ms, ` +
          `first query with connection set-up ${connect} ms`,
      );
    });
  } catch (error) {
    return fail(
      name,
      `the node does not answer through ${serverName}: ${describeError(error)}`,
      "check the host and port (bridge.configure), the firewall or tunnel, the node's pg_hba.conf " +
        "line for the link role, and the link password (docs/operations.md)",
    );
  }
}
