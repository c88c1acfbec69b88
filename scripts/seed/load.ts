/**
 * Bulk loading with COPY FROM STDIN through the psql binary: one statement per table, rows
 * streamed into psql's stdin in ~1 MB chunks, never a round trip per row.
 */
import { join } from "node:path";
import { pgBin } from "../stack/postgres.ts";

/** A COPY field: text, or null for SQL NULL. */
export type Field = string | null;

// COPY text format: backslash, tab, newline and carriage return are the only bytes with meaning
// inside a field, so escaping those four keeps any value (JSON included) intact.
const SPECIAL = /[\\\t\n\r]/;
const SPECIALS = /[\\\t\n\r]/g;
const ESCAPES: Record<string, string> = { "\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r" };

/** One field in COPY text format. */
function copyField(value: Field): string {
  if (value === null) return "\\N";
  return SPECIAL.test(value) ? value.replace(SPECIALS, (c) => ESCAPES[c]) : value;
}

// "00000".."99999", built once (~10 ms).
const DECIMALS = Array.from({ length: 1e5 }, (_, i) => String(i).padStart(5, "0"));

/**
 * A pgvector literal with 5 fixed decimals: unit-vector components are ~0.04, so that keeps ~4
 * significant digits (cosine error well below 1e-4) at a third of the text of full precision.
 * Digits come from a table of 5-digit strings, twice as fast as Number#toString on the ~77M
 * components of 100k embeddings. Digits only, so it needs no COPY escaping.
 */
export function vectorLiteral(values: ArrayLike<number>): string {
  let text = "[";
  for (let i = 0; i < values.length; i++) {
    const q = Math.round(values[i] * 1e5), magnitude = Math.abs(q);
    if (i) text += ",";
    text += magnitude < 1e5 ? (q < 0 ? "-0." : "0.") + DECIMALS[magnitude] : String(q / 1e5);
  }
  return text + "]";
}

/** Where a COPY stands, for progress display. */
export type Progress = (rowsSent: number) => void;

/**
 * Streams `rows` into `table` (its `columns`, in order) with COPY FROM STDIN through psql, as one
 * transaction: a failure leaves the table as it was. Returns the row count the server reported.
 */
export async function copyRows(
  url: string,
  table: string,
  columns: readonly string[],
  rows: Iterable<readonly Field[]>,
  onProgress: Progress = () => {},
): Promise<number> {
  const statement = `copy ${table} (${columns.join(", ")}) from stdin`;
  const child = new Deno.Command(join(pgBin(), "psql"), {
    args: [url, "-X", "-v", "ON_ERROR_STOP=1", "-c", statement],
    env: { PGCONNECT_TIMEOUT: "5" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Read psql's output while we write, so neither side can block on a full pipe.
  const output = child.output();
  const writer = child.stdin.getWriter();
  const encoder = new TextEncoder();
  let sent = 0;
  let writeError: unknown;
  try {
    let chunk: string[] = [];
    let size = 0;
    for (const row of rows) {
      const line = row.map(copyField).join("\t") + "\n";
      chunk.push(line);
      size += line.length;
      sent++;
      if (size >= 1 << 20) {
        // Awaiting each write is the backpressure: generation waits while the server catches up.
        await writer.write(encoder.encode(chunk.join("")));
        onProgress(sent);
        chunk = [];
        size = 0;
      }
    }
    if (chunk.length) await writer.write(encoder.encode(chunk.join("")));
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
  const match = text.decode(stdout).match(/COPY (\d+)/);
  return match ? Number(match[1]) : sent;
}
