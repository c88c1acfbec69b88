/**
 * The link's own safety: it is encrypted, and the role it logs in as cannot write. Both are
 * asked of the node itself, through the link, rather than trusted from Supabase's settings.
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
import type { ServerConfig } from "./server.ts";

const encryptedModes = ["require", "verify-ca", "verify-full"];

/**
 * The server demands TLS, and the node reports TLS on every session of the link role under
 * the bridge's application_name (this doctor's own session among them).
 */
export async function checkEncrypted(sql: Sql, server: ServerConfig): Promise<CheckResult> {
  const name = "link encrypted";
  const sslmode = server.options.sslmode ?? "prefer";
  if (!encryptedModes.includes(sslmode)) {
    return fail(
      name,
      `${serverName} has sslmode ${sslmode}, which allows an unencrypted link`,
      `call bridge.configure(...) again with sslmode 'verify-full' (or 'require')`,
    );
  }
  const appName = server.options.application_name ?? "postgres_fdw";
  const sessions = await rolledBack(sql, async (tx) => {
    const node = await openNodeCatalog(tx);
    return tx.unsafe(
      `select s.ssl, s.version, s.cipher
         from ${node.pg_stat_activity} a join ${node.pg_stat_ssl} s on s.pid = a.pid
        where a.usename = $1 and a.application_name = $2`,
      [server.linkUser!, appName],
    );
  });
  const plain = sessions.filter((s) => !s.ssl).length;
  if (sessions.length === 0 || plain > 0) {
    return fail(
      name,
      sessions.length === 0
        ? `the node shows no session of ${server.linkUser} named ${appName}`
        : `${plain} of ${sessions.length} link sessions on the node are not encrypted`,
      "turn ssl on in the node's postgresql.conf and allow the link role only on hostssl lines " +
        "(sql/timescale/pg_hba.conf.example)",
    );
  }
  const binding = server.options.channel_binding;
  const mode = binding ? `sslmode ${sslmode}, channel_binding ${binding}` : `sslmode ${sslmode}`;
  const unverified = sslmode === "require" && binding !== "require"
    ? "; sslmode require does not verify the node's certificate: use verify-full, or " +
      "channel_binding 'require' (docs/operations.md)"
    : "";
  const { version, cipher } = sessions[0];
  return pass(
    name,
    `${mode}; ${sessions.length} link session(s) on the node, all ${version} ${cipher}${unverified}`,
  );
}

/** Privileges that would let the link role change data, and its role attributes. */
async function linkRolePowers(tx: Sql, linkUser: string) {
  const node = await openNodeCatalog(tx);
  // pg_catalog's only non-SELECT grant is PUBLIC's UPDATE on pg_settings, which is SET.
  const grants = await tx.unsafe(
    `select privilege_type || ' on ' || table_schema || '.' || table_name as grant
       from ${node.table_privileges}
      where privilege_type not in ('SELECT', 'REFERENCES', 'TRIGGER')
        and table_schema <> 'pg_catalog'
      order by 1`,
  );
  const [role] = await tx.unsafe(
    `select rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls,
            'default_transaction_read_only=on' = any(coalesce(rolconfig, '{}')) as read_only_default
       from ${node.pg_roles} where rolname = $1`,
    [linkUser],
  );
  return { node, grants: grants.map((g) => g.grant as string), role };
}

/**
 * The node refuses a write through the link, and the link role holds no privilege or
 * attribute that would allow one once the read-only default is switched off. The write is an
 * INSERT through a scratch foreign table marked updatable (the bridge's server is not), inside
 * the rolled-back transaction, so even a node that accepted it keeps nothing.
 */
export async function checkReadOnly(sql: Sql, server: ServerConfig): Promise<CheckResult> {
  const name = "link read-only";
  const linkUser = server.linkUser!;
  return await rolledBack(sql, async (tx) => {
    const { node, grants, role } = await linkRolePowers(tx, linkUser);
    const attributes = role
      ? Object.entries(role).filter(([key, value]) => key !== "read_only_default" && value)
        .map(([key]) => key.replace(/^rol/, ""))
      : [];
    const schema = node.pg_roles.split(".")[0];
    await tx.unsafe(
      `create foreign table ${schema}.write_probe (mission_id bigint) server ${serverName}
         options (schema_name 'export', table_name 'activity_log', updatable 'true')`,
    );
    let refusal = "";
    try {
      // The last statement: its error aborts the transaction, which is rolled back anyway.
      await tx.unsafe(`insert into ${schema}.write_probe default values`);
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code === "42501" || code === "25006") refusal = describeError(error);
      else if (code !== "23502") throw error;
    }
    const problems = [
      ...(refusal ? [] : ["the node accepted an INSERT into export.activity_log"]),
      ...grants.map((g) => `${linkUser} holds ${g}`),
      ...attributes.map((a) => `${linkUser} is ${a}`),
    ];
    if (problems.length > 0) {
      return fail(
        name,
        problems.join("; "),
        `on the node: revoke all on all tables in schema export from ${linkUser}; ` +
          `grant select on all tables in schema export to ${linkUser}; alter role ${linkUser} ` +
          `nosuperuser nocreaterole nocreatedb noreplication nobypassrls; ` +
          `alter role ${linkUser} set default_transaction_read_only = on`,
      );
    }
    return pass(
      name,
      `the node refused a write (${refusal.split(" — ")[0]}); ${linkUser} holds only SELECT, ` +
        `read-only by default: ${role?.read_only_default ? "yes" : "no"}`,
    );
  });
}
