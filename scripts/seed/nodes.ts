/**
 * The Timescale nodes the bridge reads (its catalog, bridge.nodes), and which node holds a row:
 * the seed writes each row to the node whose slice holds it, so the nodes together hold the same
 * rows whatever their number.
 */
import { psql } from "../stack/postgres.ts";
import type { Field } from "./load.ts";

/** A node, where the seed reaches it, and its slice (none for the default node). */
export interface SeedNode {
  name: string;
  /** The admin connection string: TIMESCALE_DB_URL's user and password, at the node's address. */
  url: string;
  timeFrom: number | null;
  timeTo: number | null;
  listColumn: string | null;
  listValues: string[] | null;
}

/**
 * Every node in the bridge's catalog. The default node is reached at `defaultNodeUrl`; the
 * others at the host, port and database of their server, as the same admin user.
 */
export async function readNodes(supabaseUrl: string, defaultNodeUrl: string): Promise<SeedNode[]> {
  const json = await psql(
    supabaseUrl,
    `select coalesce(json_agg(json_build_object(
              'name', n.name,
              'host', (select substr(o, 6) from unnest(s.srvoptions) o where o like 'host=%'),
              'port', (select substr(o, 6) from unnest(s.srvoptions) o where o like 'port=%'),
              'dbname', (select substr(o, 8) from unnest(s.srvoptions) o where o like 'dbname=%'),
              'timeFrom', extract(epoch from lower(n.time_range)) * 1000,
              'timeTo', extract(epoch from upper(n.time_range)) * 1000,
              'listColumn', n.list_column,
              'listValues', n.list_values) order by n.name), '[]')
       from bridge.nodes n join pg_catalog.pg_foreign_server s on s.srvname = n.server`,
    { tuplesOnly: true },
  );
  return (JSON.parse(json) as (SeedNode & { host: string; port: string; dbname: string })[])
    .map(({ host, port, dbname, ...node }) => {
      if (node.name === "default") return { ...node, url: defaultNodeUrl };
      const url = new URL(defaultNodeUrl);
      url.hostname = host;
      url.port = port;
      url.pathname = `/${dbname}`;
      return { ...node, url: url.toString() };
    });
}

/** Whether a row of a table with `columns` lies in the node's slice (never for the default). */
function inSlice(node: SeedNode, columns: readonly string[], row: readonly Field[]): boolean {
  if (node.listColumn !== null) {
    const at = columns.indexOf(node.listColumn);
    return at >= 0 && node.listValues!.includes(row[at]!);
  }
  if (node.timeFrom === null && node.timeTo === null) return false;
  const time = Date.parse(row[columns.indexOf("event_time")]!);
  return (node.timeFrom === null || time >= node.timeFrom) &&
    (node.timeTo === null || time < node.timeTo);
}

/**
 * The rows `node` holds: those in its slice, or for the default node those in no other node's
 * slice. A list slice on a column the table lacks holds none of its rows (activity_log and
 * location_key: 20261127000200_node_layout.sql).
 */
export function* rowsOf(
  node: SeedNode,
  nodes: SeedNode[],
  columns: readonly string[],
  rows: Iterable<Field[]>,
): Generator<Field[]> {
  for (const row of rows) {
    const holder = nodes.find((candidate) => inSlice(candidate, columns, row));
    if ((holder?.name ?? "default") === node.name) yield row;
  }
}
