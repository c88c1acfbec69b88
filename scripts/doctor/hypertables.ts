/**
 * Whether the tables behind the foreign tables are TimescaleDB hypertables. A plain table is
 * supported, as a node adopted with its own tables may have them (sql/timescale/ never converts
 * one), so this check passes either way; it says what a plain table costs and how to convert.
 */
import { type CheckResult, pass, rolledBack, type Sql } from "./check.ts";
import type { ForeignTable } from "./foreign_tables.ts";
import { openNodeCatalog } from "./node_catalog.ts";
import { tablesBehind } from "./node.ts";

/** What a plain table costs, against a hypertable's time chunks (DESIGN.md fact 5). */
const plainCost = "a time window cannot skip old data chunk by chunk, so a windowed search, " +
  "histogram or activity page reads indexes covering the whole history and slows as it grows, " +
  "and retention means DELETE and VACUUM instead of dropping whole chunks";

const convert = (table: string) =>
  `select create_hypertable('${table}', by_range('event_time', interval '7 days'), ` +
  "migrate_data => true) (it locks the table and copies every row into chunks: plan downtime)";

/** One line per table behind the foreign tables: its chunks, or the cost of having none. */
export async function checkHypertables(sql: Sql, tables: ForeignTable[]): Promise<CheckResult> {
  const name = "hypertables";
  return await rolledBack(sql, async (tx) => {
    const node = await openNodeCatalog(tx);
    const found: string[] = [];
    for (const table of tables) {
      for (const behind of await tablesBehind(tx, node, table.remoteSchema, table.remoteTable)) {
        const qualified = `${behind.schema}.${behind.name}`;
        const [hypertable] = await tx.unsafe(
          `select h.hypertable_name,
                  (select string_agg(format('%s by %s', d.time_interval, d.column_name), ', ')
                     from ${node.dimensions} d
                    where d.hypertable_schema = h.hypertable_schema
                      and d.hypertable_name = h.hypertable_name) as chunks
             from ${node.hypertables} h
            where h.hypertable_schema = $1 and h.hypertable_name = $2`,
          [behind.schema, behind.name],
        );
        found.push(
          hypertable
            ? `${qualified} is a hypertable (chunks of ${hypertable.chunks})`
            : `${qualified} is a plain table, not a hypertable: the bridge works on it, but ` +
              `${plainCost}; to convert: ${convert(qualified)}`,
        );
      }
    }
    return pass(name, found.join("; ") || "no table found behind the foreign tables");
  });
}
