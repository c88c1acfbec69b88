/**
 * The FDW contract: the node's export views and the bridge's foreign tables must agree column
 * for column (drift), and no column of the contract may look like personal data by its name.
 */
import { type CheckResult, fail, pass, rolledBack, type Sql } from "./check.ts";
import type { Column, ForeignTable } from "./foreign_tables.ts";
import { openNodeCatalog } from "./node_catalog.ts";

/** Relations on the node, keyed "schema.name", with their columns in order. */
type NodeRelations = Map<string, Column[]>;

/**
 * The columns of every relation in the schemas the foreign tables read (normally `export`),
 * each type named as Supabase would name it: the node's schema-qualified type name resolved
 * locally, so `extensions.vector(768)` compares equal and a type Supabase lacks stays visible.
 */
async function nodeRelations(sql: Sql, schemas: string[]): Promise<NodeRelations> {
  const rows = await rolledBack(sql, async (tx) => {
    const node = await openNodeCatalog(tx);
    return tx.unsafe(
      `select n.nspname::text || '.' || c.relname::text as relation, a.attname::text as name,
              coalesce(pg_catalog.format_type(
                         pg_catalog.to_regtype(format('%I.%I', tn.nspname, t.typname)), a.atttypmod),
                       format('%I.%I', tn.nspname, t.typname)) as type
         from ${node.pg_class} c
         join ${node.pg_namespace} n on n.oid = c.relnamespace
         join ${node.pg_attribute} a on a.attrelid = c.oid
         join ${node.pg_type} t on t.oid = a.atttypid
         join ${node.pg_namespace} tn on tn.oid = t.typnamespace
        where n.nspname::text = any($1::text[]) and c.relkind in ('r', 'v', 'm', 'f', 'p')
          and a.attnum > 0 and not a.attisdropped
        order by 1, a.attnum`,
      [schemas],
    );
  });
  const relations: NodeRelations = new Map();
  for (const row of rows) {
    const columns = relations.get(row.relation) ?? [];
    columns.push({ name: row.name, type: row.type });
    relations.set(row.relation, columns);
  }
  return relations;
}

/** The differences between one foreign table and the relation it reads, in words. */
function differences(table: ForeignTable, remote: string, columns: Column[] | undefined) {
  if (!columns) return [`${remote} (read by ${table.name}) does not exist on the node`];
  const found: string[] = [];
  for (const column of columns) {
    const local = table.columns.find((c) => c.name === column.name);
    if (!local) found.push(`${remote} has ${column.name} (${column.type}), ${table.name} lacks it`);
    else if (local.type !== column.type) {
      found.push(`${column.name} is ${local.type} on Supabase but ${column.type} on the node`);
    }
  }
  for (const column of table.columns) {
    if (!columns.some((c) => c.name === column.name)) {
      found.push(`${table.name} reads ${column.name}, which ${remote} no longer has`);
    }
  }
  return found;
}

/** Each foreign table matches the node's relation column for column, and each export is mirrored. */
export async function checkDrift(sql: Sql, tables: ForeignTable[]): Promise<CheckResult> {
  const name = "drift";
  const schemas = [...new Set(tables.map((t) => t.remoteSchema))];
  if (tables.length === 0) {
    return fail(name, "the bridge has no foreign tables", "apply the migrations");
  }
  const relations = await nodeRelations(sql, schemas);
  const found: string[] = [];
  for (const table of tables) {
    const remote = `${table.remoteSchema}.${table.remoteTable}`;
    found.push(...differences(table, remote, relations.get(remote)));
  }
  for (const relation of relations.keys()) {
    if (!tables.some((t) => `${t.remoteSchema}.${t.remoteTable}` === relation)) {
      found.push(`${relation} has no foreign table on Supabase`);
    }
  }
  if (found.length > 0) {
    return fail(
      name,
      found.join("; "),
      "if the node's change is intended: select * from bridge.refresh_foreign_tables(); " +
        "analyze bridge.events, bridge.activity_log; otherwise restore the view as " +
        "sql/timescale/02_export.sql defines it",
    );
  }
  const counted = tables.map((t) => `${t.name} = ${t.remoteSchema}.${t.remoteTable}`);
  return pass(name, `${counted.join(", ")}, column for column`);
}

/** Name parts that say a column holds personal data (split on anything not a letter or digit). */
const piiParts = new Set([
  "email",
  "mail",
  "phone",
  "mobile",
  "name",
  "firstname",
  "lastname",
  "fullname",
  "surname",
  "username",
  "address",
  "addr",
  "street",
  "ip",
  "ipv4",
  "ipv6",
  "ipaddr",
  // The founding document's data_payload_raw: the payload as it arrived, where personal data
  // ends up (the seed's holds e-mail addresses and phone numbers). Only _proc may cross.
  "raw",
]);

/**
 * True when a column's name looks like personal data, e.g. `email`, `user_name`, `client_ip`,
 * `data_payload_raw`.
 */
export function looksLikePii(column: string): boolean {
  return column.toLowerCase().split(/[^a-z0-9]+/).some((part) => piiParts.has(part));
}

/**
 * No column of the contract looks like personal data by name: the export views promise
 * pseudonymous columns only, and foreign tables ignore RLS (DESIGN.md fact 6).
 */
export async function checkPii(sql: Sql, tables: ForeignTable[]): Promise<CheckResult> {
  const name = "no PII by name";
  const schemas = [...new Set(tables.map((t) => t.remoteSchema))];
  const relations = await nodeRelations(sql, schemas);
  const columns = [
    ...[...relations].flatMap(([relation, cols]) => cols.map((c) => `${relation}.${c.name}`)),
    ...tables.flatMap((t) => t.columns.map((c) => `${t.name}.${c.name}`)),
  ];
  const suspects = [...new Set(columns.filter((c) => looksLikePii(c.split(".").pop()!)))];
  if (suspects.length > 0) {
    return fail(
      name,
      `columns that look like personal data: ${suspects.join(", ")}`,
      "export a pseudonymous token instead (as user_token does) and drop the column from the " +
        "export view; if the name misleads, rename it",
    );
  }
  const exported = [...relations.values()].reduce((sum, cols) => sum + cols.length, 0);
  return pass(
    name,
    `${exported} columns of ${[...relations.keys()].join(", ")} and their foreign tables ` +
      "checked: none named like personal data",
  );
}
