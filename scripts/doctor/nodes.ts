/**
 * The Timescale nodes the bridge reads, found in PostgreSQL's catalog (the servers of bridge's
 * foreign tables and foreign partitions), and each node's catalogs seen through its link.
 */
import type { Sql, Transaction } from "./check.ts";

/** A column as postgres_fdw asks for it: the remote name, and the local type. */
export type Column = { name: string; type: string };

/** A foreign table on a node's server. */
export interface ForeignTable {
  /** Qualified local name, e.g. bridge.events. */
  name: string;
  /** The bridge table whose rows it holds: the root of its partition tree, or itself. */
  serves: string;
  /** Its partition bound, e.g. `FOR VALUES FROM (...) TO (...)`; null if no partition. */
  slice: string | null;
  remoteSchema: string;
  remoteTable: string;
  /** Rows in the local statistics; -1 when the table was never analyzed. */
  reltuples: number;
  /** Its own options, e.g. use_remote_estimate. */
  options: Record<string, string>;
  columns: Column[];
}

/** A node: one foreign server, and the connecting role's way onto it. */
export interface Node {
  name: string;
  wrapper: string;
  options: Record<string, string>;
  currentUser: string;
  /** The node's role the link logs in as; null without a user mapping for currentUser. */
  linkUser: string | null;
  tables: ForeignTable[];
}

/**
 * Every node, by name, with its foreign tables under their remote names (options defaulting as
 * postgres_fdw does) and the user mapping postgres_fdw uses for this session (the current
 * user's: docs/design.md § user mapping of the current user). Contacts no node.
 */
export async function listNodes(sql: Sql): Promise<Node[]> {
  const option = (options: string, name: string) =>
    `(select option_value from pg_catalog.pg_options_to_table(${options})
       where option_name = '${name}')`;
  return [
    ...await sql.unsafe<Node[]>(`
    with foreign_table as (
      select f.ftserver as server, json_build_object(
               'name', format('%I.%I', n.nspname, c.relname),
               'serves', format('%I.%I', rn.nspname, root.relname),
               'slice', case when c.relispartition
                          then pg_catalog.pg_get_expr(c.relpartbound, c.oid) end,
               'remoteSchema', coalesce(${option("f.ftoptions", "schema_name")}, n.nspname),
               'remoteTable', coalesce(${option("f.ftoptions", "table_name")}, c.relname),
               'reltuples', c.reltuples,
               'options', coalesce((select json_object_agg(option_name, option_value)
                                      from pg_catalog.pg_options_to_table(f.ftoptions)), '{}'),
               'columns', (select coalesce(json_agg(json_build_object(
                                   'name', coalesce(${option("a.attfdwoptions", "column_name")},
                                                    a.attname),
                                   'type', pg_catalog.format_type(a.atttypid, a.atttypmod))
                                 order by a.attnum), '[]')
                             from pg_catalog.pg_attribute a
                            where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped)
             ) as foreign_table
        from pg_catalog.pg_foreign_table f
        join pg_catalog.pg_class c on c.oid = f.ftrelid
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
        join pg_catalog.pg_class root
          on root.oid = coalesce(pg_catalog.pg_partition_root(c.oid), c.oid)
        join pg_catalog.pg_namespace rn on rn.oid = root.relnamespace
       where 'bridge' in (n.nspname, rn.nspname))
    select s.srvname::text as name, w.fdwname::text as wrapper,
           coalesce((select json_object_agg(option_name, option_value)
                       from pg_catalog.pg_options_to_table(s.srvoptions)), '{}') as options,
           current_user::text as "currentUser",
           (select coalesce(${option("m.umoptions", "user")}, current_user::text)
              from pg_catalog.pg_user_mappings m
             where m.srvid = s.oid and m.usename = current_user) as "linkUser",
           json_agg(t.foreign_table order by t.foreign_table->>'name') as tables
      from foreign_table t
      join pg_catalog.pg_foreign_server s on s.oid = t.server
      join pg_catalog.pg_foreign_data_wrapper w on w.oid = s.srvfdw
     group by s.oid, w.fdwname
     order by 1`),
  ];
}

/** The node's slices, e.g. `bridge.events_hot FOR VALUES FROM (...) TO (...)`, or "no slice". */
export function slicesOf(node: Node): string {
  const sliced = node.tables.filter((t) => t.slice).map((t) => `${t.name} ${t.slice}`);
  return sliced.length ? sliced.join(", ") : "no slice";
}

/**
 * The node catalogs the checks read, each `<remote schema> (<columns>)`, all readable by any role.
 * Declared, not imported: pg_attribute's anyarray column cannot be a foreign table's, and only
 * the columns read are fetched.
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

/**
 * Makes, in `tx` (rolled back by the caller), a scratch schema of the node's catalogs as foreign
 * tables of the same names, and returns its name: the doctor sees what the link role sees, with
 * no credentials of its own. Creating them does not contact the node.
 */
export async function openNodeCatalog(tx: Transaction, server: string): Promise<string> {
  // A fresh name per run: two doctors at once must not wait on each other's uncommitted schema.
  const schema = `doctor_scratch_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
  const tables = Object.entries(catalogs).map(([table, declaration]) => {
    const [, remoteSchema, columns] = declaration.match(/^(\w+) (\(.*\))$/)!;
    return `create foreign table ${schema}.${table} ${columns} server ${server} ` +
      `options (schema_name '${remoteSchema}', table_name '${table}')`;
  });
  await tx.unsafe([`create schema ${schema}`, ...tables].join(";\n"));
  return schema;
}
