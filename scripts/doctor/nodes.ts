/**
 * The Timescale nodes the bridge reads, found in PostgreSQL's own catalog rather than listed in
 * code: the foreign servers behind the foreign tables of schema bridge, and behind the foreign
 * partitions of its partitioned tables, each with its foreign tables and their slices.
 */
import type { Sql } from "./check.ts";

/** One column as postgres_fdw will ask for it: the remote name, and the local type. */
export interface Column {
  name: string;
  type: string;
}

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
  columns: Column[];
}

/** A node: one foreign server, and the connecting role's way onto it. */
export interface Node {
  /** The foreign server's name, e.g. events_ts. */
  name: string;
  wrapper: string;
  options: Record<string, string>;
  currentUser: string;
  /** The node's role the link logs in as; null without a user mapping for currentUser. */
  linkUser: string | null;
  tables: ForeignTable[];
}

/**
 * Every node, ordered by name, with its foreign tables: their remote relation (the schema_name
 * and table_name options, defaulting as postgres_fdw does to the local names), their columns
 * under their remote names (the column_name option), and the user mapping postgres_fdw will
 * use for this session (the current user's, DESIGN.md fact 7). Contacts no node.
 *
 * @example
 * const nodes = await listNodes(sql); // [{ name: "events_ts", tables: [...], ... }]
 */
export async function listNodes(sql: Sql): Promise<Node[]> {
  const option = (options: string, name: string) =>
    `(select option_value from pg_catalog.pg_options_to_table(${options})
       where option_name = '${name}')`;
  const remoteColumn = `coalesce(${option("a.attfdwoptions", "column_name")}, a.attname)`;
  const nodes = await sql.unsafe<Node[]>(`
    with foreign_table as (
      select f.ftserver as server, json_build_object(
               'name', format('%I.%I', n.nspname, c.relname),
               'serves', format('%I.%I', rn.nspname, root.relname),
               'slice', case when c.relispartition
                          then pg_catalog.pg_get_expr(c.relpartbound, c.oid) end,
               'remoteSchema', coalesce(${option("f.ftoptions", "schema_name")}, n.nspname),
               'remoteTable', coalesce(${option("f.ftoptions", "table_name")}, c.relname),
               'reltuples', c.reltuples,
               'columns', (select coalesce(json_agg(json_build_object(
                                   'name', ${remoteColumn},
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
     order by 1`);
  return [...nodes];
}

/** The node's slices, e.g. `bridge.events_hot FOR VALUES FROM (...) TO (...)`, or "no slice". */
export function slicesOf(node: Node): string {
  const sliced = node.tables.filter((t) => t.slice).map((t) => `${t.name} ${t.slice}`);
  return sliced.length ? sliced.join(", ") : "no slice";
}
