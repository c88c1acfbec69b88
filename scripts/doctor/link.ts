/**
 * A node's foreign server and its link: configured, answering, encrypted, and unable to write,
 * asked of the node itself through the link rather than trusted from Supabase's settings.
 */
import { describeError, fail, type Finding, type OnNode, pass } from "./check.ts";

/** The server uses postgres_fdw, ships pgvector's operators, has a host, and this role a mapping. */
export function checkServer({ node }: OnNode): Finding {
  const { name, wrapper, currentUser, linkUser } = node;
  const { host, port, dbname, extensions } = node.options;
  if (wrapper !== "postgres_fdw") {
    return fail(
      `${name} uses ${wrapper}, not postgres_fdw`,
      "drop it and create it as supabase/schemas/link.sql does",
    );
  }
  const shipped = (extensions ?? "").split(",").map((e) => e.trim()).filter(Boolean);
  if (!shipped.includes("vector")) {
    const verb = extensions === undefined ? "add" : "set";
    return fail(
      `${name} lacks extensions 'vector' (has ${extensions ?? "none"}): pgvector's ` +
        `operators stay local and every search pulls the whole table`,
      `alter server ${name} options (${verb} extensions '${[...shipped, "vector"].join(",")}')`,
    );
  }
  // The schema leaves a placeholder host until bridge.configure(...) sets the real one.
  if (!host || host === "bridge-not-configured.invalid") {
    return fail(
      `${name} has no host yet (${host ?? "none"})`,
      "as postgres: select bridge.configure('<host>', 5432, 'postgres', 'bridge_reader', " +
        "'<link password>', 'verify-full') (docs/operations.md)",
    );
  }
  if (!linkUser) {
    return fail(
      `${currentUser} has no user mapping for ${name}, so the doctor cannot use the link`,
      "connect as the role that owns the bridge (postgres), or run bridge.configure(...) as it",
    );
  }
  return pass(
    `${name} → ${host}:${port ?? "5432"}/${dbname ?? currentUser} as ${linkUser}, ` +
      `extensions '${extensions}'`,
  );
}

/** The node answers: the first query pays for the connection (TCP, TLS, SCRAM), the second not. */
export async function checkLink({ tx, node, catalog }: OnNode): Promise<Finding> {
  if (!node.linkUser) {
    return fail("not checked: the server's user mapping is missing", "see `server`");
  }
  // A connection cached by an earlier check would hide the cost of connecting.
  await tx`select extensions.postgres_fdw_disconnect(${node.name})`;
  const versionQuery = `select setting from ${catalog}.pg_settings where name = 'server_version'`;
  const msSince = (start: number) => Math.round((performance.now() - start) * 10) / 10;
  try {
    // In a savepoint of its own: a failed query would otherwise abort the node's transaction.
    return await tx.savepoint(async (link) => {
      let start = performance.now();
      const [version] = await link.unsafe(versionQuery);
      const connect = msSince(start);
      start = performance.now();
      await link.unsafe(versionQuery);
      return pass(
        `the node (PostgreSQL ${version?.setting ?? "unknown"}) answers: round trip ` +
          `${msSince(start)} ms, first query with connection set-up ${connect} ms`,
      );
    });
  } catch (error) {
    return fail(
      `the node does not answer through ${node.name}: ${describeError(error)}`,
      "check the host and port (bridge.configure), the firewall or tunnel, the node's pg_hba.conf " +
        "line for the link role, and the link password (docs/operations.md)",
    );
  }
}

/** The server demands TLS, and the node shows it on every session of the link role. */
export async function checkEncrypted({ tx, node, catalog }: OnNode): Promise<Finding> {
  const { sslmode = "prefer", channel_binding: binding } = node.options;
  if (!["require", "verify-ca", "verify-full"].includes(sslmode)) {
    return fail(
      `${node.name} has sslmode ${sslmode}, which allows an unencrypted link`,
      `call bridge.configure(...) again with sslmode 'verify-full' (or 'require')`,
    );
  }
  const appName = node.options.application_name ?? "postgres_fdw";
  const sessions = await tx.unsafe(
    `select s.ssl, s.version, s.cipher
       from ${catalog}.pg_stat_activity a join ${catalog}.pg_stat_ssl s on s.pid = a.pid
      where a.usename = $1 and a.application_name = $2`,
    [node.linkUser!, appName],
  );
  const plain = sessions.filter((s) => !s.ssl).length;
  if (sessions.length === 0 || plain > 0) {
    return fail(
      sessions.length === 0
        ? `the node shows no session of ${node.linkUser} named ${appName}`
        : `${plain} of ${sessions.length} link sessions on the node are not encrypted`,
      "turn ssl on in the node's postgresql.conf and allow the link role only on hostssl lines " +
        "(sql/timescale/pg_hba.conf.example)",
    );
  }
  const mode = binding ? `sslmode ${sslmode}, channel_binding ${binding}` : `sslmode ${sslmode}`;
  const unverified = sslmode === "require" && binding !== "require"
    ? "; sslmode require does not verify the node's certificate: use verify-full, or " +
      "channel_binding 'require' (docs/operations.md)"
    : "";
  const { version, cipher } = sessions[0];
  return pass(
    `${mode}; ${sessions.length} link session(s) on the node, all ${version} ${cipher}${unverified}`,
  );
}

/**
 * The node refuses a write through the link, and the link role holds no privilege or attribute
 * that would allow one without its read-only default. The write goes through a scratch foreign
 * table marked updatable, in the rolled-back transaction, so even a node that accepts keeps nothing.
 */
export async function checkReadOnly({ tx, node, catalog }: OnNode): Promise<Finding> {
  const linkUser = node.linkUser!;
  // pg_catalog's only non-SELECT grant is PUBLIC's UPDATE on pg_settings, which is SET.
  const grants = await tx.unsafe(
    `select privilege_type || ' on ' || table_schema || '.' || table_name as grant
       from ${catalog}.table_privileges
      where privilege_type not in ('SELECT', 'REFERENCES', 'TRIGGER')
        and table_schema <> 'pg_catalog'
      order by 1`,
  );
  const [role] = await tx.unsafe(
    `select rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls,
            'default_transaction_read_only=on' = any(coalesce(rolconfig, '{}')) as read_only_default
       from ${catalog}.pg_roles where rolname = $1`,
    [linkUser],
  );
  const attributes = Object.entries(role ?? {})
    .filter(([key, value]) => key !== "read_only_default" && value)
    .map(([key]) => key.replace(/^rol/, ""));
  await tx.unsafe(
    `create foreign table ${catalog}.write_probe (mission_id bigint) server ${node.name}
       options (schema_name 'export', table_name 'activity_log', updatable 'true')`,
  );
  const refusal = await tx.savepoint((write) =>
    write.unsafe(`insert into ${catalog}.write_probe default values`)
  ).then(() => "", (error) => {
    const code = (error as { code?: string }).code;
    if (code === "42501" || code === "25006") return describeError(error);
    // A not-null violation: the node accepted the write and refused only the row.
    if (code === "23502") return "";
    throw error;
  });
  const problems = [
    ...(refusal ? [] : ["the node accepted an INSERT into export.activity_log"]),
    ...grants.map((g) => `${linkUser} holds ${g.grant}`),
    ...attributes.map((a) => `${linkUser} is ${a}`),
  ];
  if (problems.length > 0) {
    return fail(
      problems.join("; "),
      `on the node: revoke all on all tables in schema export from ${linkUser}; ` +
        `grant select on all tables in schema export to ${linkUser}; alter role ${linkUser} ` +
        `nosuperuser nocreaterole nocreatedb noreplication nobypassrls; ` +
        `alter role ${linkUser} set default_transaction_read_only = on`,
    );
  }
  return pass(
    `the node refused a write (${refusal.split(" — ")[0]}); ${linkUser} holds only SELECT, ` +
      `read-only by default: ${role?.read_only_default ? "yes" : "no"}`,
  );
}
