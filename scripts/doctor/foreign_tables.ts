/** The bridge's foreign tables as Supabase declares them: what each reads on the node, and how. */
import { serverName, type Sql } from "./check.ts";

/** One column as postgres_fdw will ask for it: the remote name, and the local type. */
export interface Column {
  name: string;
  type: string;
}

/** A foreign table on the bridge's server. */
export interface ForeignTable {
  /** Qualified local name, e.g. bridge.events. */
  name: string;
  remoteSchema: string;
  remoteTable: string;
  /** Rows in the local statistics; -1 when the table was never analyzed. */
  reltuples: number;
  columns: Column[];
}

/**
 * Every foreign table on the bridge's server, with the remote relation it reads (the
 * schema_name and table_name options, defaulting as postgres_fdw does to the local names)
 * and its columns under their remote names (the column_name option, which imports set).
 *
 * @example
 * const tables = await listForeignTables(sql); // [{ name: "bridge.activity_log", ... }, ...]
 */
export async function listForeignTables(sql: Sql): Promise<ForeignTable[]> {
  const rows = await sql`
    select c.oid::regclass::text as name,
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
      join pg_catalog.pg_foreign_server s on s.oid = f.ftserver
      join pg_catalog.pg_class c on c.oid = f.ftrelid
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where s.srvname = ${serverName}
     order by 1`;
  return rows.map((row) => ({
    name: row.name,
    remoteSchema: row.remote_schema,
    remoteTable: row.remote_table,
    reltuples: Number(row.reltuples),
    columns: row.columns,
  }));
}
