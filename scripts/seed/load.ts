/**
 * Where the seed's rows go and how: the Timescale nodes in the bridge's catalog (bridge.nodes),
 * each holding the rows of its slice, so the nodes together hold the same rows whatever their
 * number; and COPY FROM STDIN through psql, rows streamed in ~1 MB chunks, never a round trip
 * per row.
 */
import { join } from "node:path";
import { pgBin, psql } from "../stack/postgres.ts";
import type { Row } from "./generate.ts";

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
              'server', (select json_object_agg(option_name, option_value)
                           from pg_catalog.pg_options_to_table(s.srvoptions)),
              'timeFrom', extract(epoch from lower(n.time_range)) * 1000,
              'timeTo', extract(epoch from upper(n.time_range)) * 1000,
              'listColumn', n.list_column,
              'listValues', n.list_values) order by n.name), '[]')
       from bridge.nodes n join pg_catalog.pg_foreign_server s on s.srvname = n.server`,
    { tuplesOnly: true },
  );
  type Server = { host: string; port: string; dbname: string };
  return (JSON.parse(json) as (SeedNode & { server: Server })[]).map(({ server, ...node }) => {
    if (node.name === "default") return { ...node, url: defaultNodeUrl };
    const url = new URL(defaultNodeUrl);
    url.hostname = server.host;
    url.port = server.port;
    url.pathname = `/${server.dbname}`;
    return { ...node, url: url.toString() };
  });
}

/** Whether `row` lies in the node's slice; the default node has none. */
function inSlice(node: SeedNode, row: Row): boolean {
  if (node.listColumn !== null) return node.listValues!.includes(row[node.listColumn]);
  if (node.timeFrom === null && node.timeTo === null) return false;
  const time = Date.parse(row.event_time);
  return time >= (node.timeFrom ?? -Infinity) && time < (node.timeTo ?? Infinity);
}

/**
 * The rows `node` holds: those in its slice, or for the default node those in no other node's
 * slice. A list slice on a column the table lacks holds none of its rows (activity_log and
 * location_key: 20261127000200_node_layout.sql).
 */
export function* rowsOf(node: SeedNode, nodes: SeedNode[], rows: Iterable<Row>): Generator<Row> {
  for (const row of rows) {
    const holder = nodes.find((candidate) => inSlice(candidate, row));
    if ((holder?.name ?? "default") === node.name) yield row;
  }
}

// COPY text format: backslash, tab, newline and carriage return are the only bytes with meaning
// inside a field, so escaping those four keeps any value (JSON included) intact.
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };
const copyField = (value: string) => value.replace(/[\\\t\n\r]/g, (c) => ESCAPES[c]);

/**
 * Streams `rows` into `table` at `url` with one COPY through psql, as one transaction: a failure
 * leaves the table as it was. Tells `onProgress` the rows sent after each chunk. Returns the row
 * count the server reported, once it has checked that it matches the rows sent.
 */
export async function copyRows(
  url: string,
  table: string,
  rows: Iterable<Row>,
  onProgress: (rowsSent: number) => void,
): Promise<number> {
  const iterator = rows[Symbol.iterator]();
  let next = iterator.next();
  if (next.done) return 0;
  // Every row of a table has the same columns, in the same order.
  const columns = Object.keys(next.value);
  const child = new Deno.Command(join(pgBin(), "psql"), {
    args: [
      url,
      "-X",
      "-v",
      "ON_ERROR_STOP=1",
      "-c",
      `copy ${table} (${columns.join(", ")}) from stdin`,
    ],
    env: { PGCONNECT_TIMEOUT: "5" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Read psql's output while we write, so neither side can block on a full pipe.
  const output = child.output();
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  let sent = 0, chunk = "", writeError: unknown;
  try {
    for (; !next.done; next = iterator.next()) {
      const row = next.value;
      chunk += columns.map((column) => copyField(row[column])).join("\t") + "\n";
      sent++;
      if (chunk.length >= 1 << 20) {
        // Awaiting each write is the backpressure: generation waits while the server catches up.
        await writer.write(encoder.encode(chunk));
        onProgress(sent);
        chunk = "";
      }
    }
    await writer.write(encoder.encode(chunk));
    onProgress(sent);
    await writer.close();
  } catch (error) {
    // Usually a broken pipe because psql already failed: its stderr says why, so report that.
    writeError = error;
    await writer.abort().catch(() => {});
  }
  const { code, stdout, stderr } = await output;
  const text = new TextDecoder();
  if (code !== 0 || writeError) {
    const detail = text.decode(stderr).trim() || String(writeError ?? `psql exited with ${code}`);
    throw new Error(`copy into ${table} failed: ${detail}`);
  }
  // psql prints the command tag, "COPY 100000": the server's own count.
  const loaded = Number(text.decode(stdout).match(/COPY (\d+)/)?.[1]);
  if (loaded !== sent) throw new Error(`${table}: loaded ${loaded} rows, sent ${sent}`);
  return loaded;
}
