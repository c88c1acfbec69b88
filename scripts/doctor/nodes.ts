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
  /** Its partition bound, e.g. `FOR VALUES FROM (...) TO (...)`; undefined if no partition. */
  slice?: string;
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
  /** The node's role the link logs in as; undefined without a user mapping for currentUser. */
  linkUser?: string;
  tables: ForeignTable[];
}

const toMap = (options: string[] | null): Record<string, string> =>
  Object.fromEntries(
    (options ?? []).map((o) => [o.slice(0, o.indexOf("=")), o.slice(o.indexOf("=") + 1)]),
  );

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
  const rows = await sql`
    select s.srvname::text as server, w.fdwname::text as wrapper, s.srvoptions,
           current_user::text as current_user,
           (select m.umoptions from pg_catalog.pg_user_mappings m
             where m.srvid = s.oid and m.usename = current_user) as umoptions,
           c.oid::regclass::text as name, root.oid::regclass::text as serves,
           case when c.relispartition then pg_catalog.pg_get_expr(c.relpartbound, c.oid) end
             as slice,
           coalesce((select split_part(o, '=', 2) from unnest(f.ftoptions) o
                      where o like 'schema\_name=%'), n.nspname) as remote_schema,
           coalesce((select split_part(o, '=', 2) from unnest(f.ftoptions) o
                      where o like 'table\_name=%'), c.relname) as remote_table,
           c.reltuples::float8 as reltuples,
           coalesce((
             select json_agg(json_build_object(
                      'name', coalesce((select substr(o, length('column_name=') + 1)
                                          from unnest(a.attfdwoptions) o
                                         where o like 'column\_name=%'), a.attname),
                      'type', pg_catalog.format_type(a.atttypid, a.atttypmod))
                    order by a.attnum)
               from pg_catalog.pg_attribute a
              where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped), '[]') as columns
      from pg_catalog.pg_foreign_table f
      join pg_catalog.pg_class c on c.oid = f.ftrelid
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
      join pg_catalog.pg_class root
        on root.oid = coalesce(pg_catalog.pg_partition_root(c.oid), c.oid)
      join pg_catalog.pg_namespace rn on rn.oid = root.relnamespace
      join pg_catalog.pg_foreign_server s on s.oid = f.ftserver
      join pg_catalog.pg_foreign_data_wrapper w on w.oid = s.srvfdw
     where 'bridge' in (n.nspname, rn.nspname)
     order by 1, 6`;
  const nodes = new Map<string, Node>();
  for (const row of rows) {
    if (!nodes.has(row.server)) {
      const mapping = row.umoptions === null ? undefined : toMap(row.umoptions);
      nodes.set(row.server, {
        name: row.server,
        wrapper: row.wrapper,
        options: toMap(row.srvoptions),
        currentUser: row.current_user,
        linkUser: mapping ? mapping.user ?? row.current_user : undefined,
        tables: [],
      });
    }
    nodes.get(row.server)!.tables.push({
      name: row.name,
      serves: row.serves,
      slice: row.slice ?? undefined,
      remoteSchema: row.remote_schema,
      remoteTable: row.remote_table,
      reltuples: Number(row.reltuples),
      columns: row.columns,
    });
  }
  return [...nodes.values()];
}

/** The node's slices, e.g. `bridge.events_hot FOR VALUES FROM (...) TO (...)`, or "no slice". */
export function slicesOf(node: Node): string {
  const sliced = node.tables.filter((t) => t.slice).map((t) => `${t.name} ${t.slice}`);
  return sliced.length ? sliced.join(", ") : "no slice";
}
