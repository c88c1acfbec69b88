/**
 * A Timescale node's catalogs, seen through the link: a scratch schema of foreign tables on the
 * node's server, made inside the caller's transaction so the rollback removes it. The doctor
 * thus needs no credentials for the node; it sees what the link role sees, and every catalog
 * below is readable by any role.
 */
import type { Transaction } from "./check.ts";

/**
 * Columns declared by hand rather than imported: IMPORT FOREIGN SCHEMA pg_catalog would bring
 * columns of pseudo-types (anyarray in pg_statistic and pg_attribute) that a foreign table cannot
 * have, and only the columns read here are fetched. Each is `<remote schema> (<columns>)`.
 */
const catalogs = {
  pg_namespace: "pg_catalog (oid oid, nspname name)",
  pg_class: `pg_catalog (oid oid, relname name, relnamespace oid, relkind "char")`,
  pg_attribute: "pg_catalog (attrelid oid, attname name, atttypid oid, atttypmod int4, " +
    "attnum int2, attisdropped bool)",
  pg_type: "pg_catalog (oid oid, typname name, typnamespace oid)",
  pg_extension: "pg_catalog (extname name, extnamespace oid, extversion text)",
  pg_rewrite: "pg_catalog (oid oid, ev_class oid)",
  pg_depend: "pg_catalog (classid oid, objid oid, refclassid oid, refobjid oid)",
  pg_indexes: "pg_catalog (schemaname name, tablename name, indexname name, indexdef text)",
  pg_roles: "pg_catalog (rolname name, rolsuper bool, rolcreaterole bool, rolcreatedb bool, " +
    "rolreplication bool, rolbypassrls bool, rolconfig text[])",
  pg_settings: "pg_catalog (name text, setting text)",
  pg_stat_activity: "pg_catalog (pid int4, usename name, application_name text)",
  pg_stat_ssl: "pg_catalog (pid int4, ssl bool, version text, cipher text)",
  hypertables: "timescaledb_information (hypertable_schema name, hypertable_name name)",
  dimensions: "timescaledb_information (hypertable_schema name, hypertable_name name, " +
    "column_name name, time_interval interval)",
  table_privileges: "information_schema (grantee text, table_schema text, table_name text, " +
    "privilege_type text)",
};

/** The qualified names of the scratch foreign tables, and the scratch schema's own name. */
export type NodeCatalog = Record<keyof typeof catalogs | "schema", string>;

/**
 * Creates the scratch schema and its foreign tables on `server` in `tx` (which the caller rolls
 * back) and returns their names. Creating them does not contact the node; the first query does.
 *
 * @example
 * const node = await openNodeCatalog(tx, "events_ts");
 * await tx.unsafe(`select extversion from ${node.pg_extension} where extname = 'vector'`);
 */
export async function openNodeCatalog(tx: Transaction, server: string): Promise<NodeCatalog> {
  // A fresh name per run: two doctors at once must not wait on each other's uncommitted schema.
  const schema = `doctor_scratch_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const names = { schema } as NodeCatalog;
  const ddl = [`create schema ${schema}`];
  for (const [table, declaration] of Object.entries(catalogs)) {
    const [, remoteSchema, columns] = declaration.match(/^(\w+) (\(.*\))$/)!;
    names[table as keyof typeof catalogs] = `${schema}.${table}`;
    ddl.push(
      `create foreign table ${schema}.${table} ${columns} server ${server} ` +
        `options (schema_name '${remoteSchema}', table_name '${table}')`,
    );
  }
  await tx.unsafe(ddl.join(";\n"));
  return names;
}
