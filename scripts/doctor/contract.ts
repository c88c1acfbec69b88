/**
 * The FDW contract with each node: its export views and the bridge's foreign tables on it must
 * agree column for column (drift), no column of the contract may look like personal data by its
 * name, and the foreign tables need local statistics for the planner.
 */
import { fail, type Finding, type OnNode, pass, verdict } from "./check.ts";
import type { Column } from "./nodes.ts";

/**
 * The relations, keyed "schema.name", in the schemas the node's foreign tables read (normally
 * `export`), with their columns in order, each type named as Supabase would name it: the node's
 * schema-qualified type name resolved locally, so `extensions.vector(768)` compares equal and a
 * type Supabase lacks stays visible.
 */
async function nodeRelations({ tx, catalog, node }: OnNode): Promise<Map<string, Column[]>> {
  const rows = await tx.unsafe(
    `select n.nspname::text || '.' || c.relname::text as relation, a.attname::text as name,
            coalesce(pg_catalog.format_type(
                       pg_catalog.to_regtype(format('%I.%I', tn.nspname, t.typname)), a.atttypmod),
                     format('%I.%I', tn.nspname, t.typname)) as type
       from ${catalog}.pg_class c
       join ${catalog}.pg_namespace n on n.oid = c.relnamespace
       join ${catalog}.pg_attribute a on a.attrelid = c.oid
       join ${catalog}.pg_type t on t.oid = a.atttypid
       join ${catalog}.pg_namespace tn on tn.oid = t.typnamespace
      where n.nspname::text = any($1::text[]) and c.relkind in ('r', 'v', 'm', 'f', 'p')
        and a.attnum > 0 and not a.attisdropped
      order by 1, a.attnum`,
    [[...new Set(node.tables.map((t) => t.remoteSchema))]],
  );
  const relations = new Map<string, Column[]>();
  for (const { relation, name, type } of rows) {
    relations.set(relation, [...relations.get(relation) ?? [], { name, type }]);
  }
  return relations;
}

/**
 * Each of the node's foreign tables matches the relation it reads column for column, and each
 * relation in the schemas they read is mirrored by a foreign table on some node.
 */
export async function checkDrift(on: OnNode): Promise<Finding> {
  const { tables } = on.node;
  const relations = await nodeRelations(on);
  const found: string[] = [];
  for (const table of tables) {
    const remote = `${table.remoteSchema}.${table.remoteTable}`;
    const columns = relations.get(remote);
    if (!columns) {
      found.push(`${remote} (read by ${table.name}) does not exist on the node`);
      continue;
    }
    for (const column of columns) {
      const local = table.columns.find((c) => c.name === column.name);
      if (!local) {
        found.push(`${remote} has ${column.name} (${column.type}), ${table.name} lacks it`);
      } else if (local.type !== column.type) {
        found.push(`${column.name} is ${local.type} on Supabase but ${column.type} on the node`);
      }
    }
    for (const column of table.columns) {
      if (!columns.some((c) => c.name === column.name)) {
        found.push(`${table.name} reads ${column.name}, which ${remote} no longer has`);
      }
    }
  }
  // A node may hold a relation the bridge reads from another node only (activity on the default
  // node when the others are sliced by a column activity_log lacks, 20261127000200).
  for (const relation of relations.keys()) {
    if (!on.read.has(relation)) found.push(`${relation} has no foreign table on Supabase`);
  }
  return verdict(
    found,
    "if the node's change is intended: select * from bridge.refresh_foreign_tables(); " +
      "analyze bridge.events, bridge.activity_log; otherwise restore the view as " +
      "sql/timescale/02_export.sql defines it",
    () =>
      tables.map((t) => `${t.name} = ${t.remoteSchema}.${t.remoteTable}`).join(", ") +
      ", column for column",
  );
}

/**
 * Name parts that say a column holds personal data, as in `email`, `user_name`, `client_ip`
 * (a name is split on anything not a letter or digit).
 * `raw` is the founding document's data_payload_raw: the payload as it arrived, where personal
 * data ends up (the seed's holds e-mail addresses and phone numbers). Only _proc may cross.
 */
const piiParts = new Set(
  ("email mail phone mobile name firstname lastname fullname surname username address addr " +
    "street ip ipv4 ipv6 ipaddr raw").split(" "),
);

/**
 * No column of the contract looks like personal data by name: the export views promise
 * pseudonymous columns only, and foreign tables ignore RLS (DESIGN.md fact 6).
 */
export async function checkPii(on: OnNode): Promise<Finding> {
  const relations = await nodeRelations(on);
  const columns = [
    ...[...relations].flatMap(([relation, cols]) => cols.map((c) => `${relation}.${c.name}`)),
    ...on.node.tables.flatMap((t) => t.columns.map((c) => `${t.name}.${c.name}`)),
  ];
  const suspects = columns.filter((column) =>
    column.split(".").pop()!.toLowerCase().split(/[^a-z0-9]+/).some((part) => piiParts.has(part))
  );
  if (suspects.length > 0) {
    return fail(
      `columns that look like personal data: ${[...new Set(suspects)].join(", ")}`,
      "export a pseudonymous token instead (as user_token does) and drop the column from the " +
        "export view; if the name misleads, rename it",
    );
  }
  return pass(
    `${[...relations.values()].flat().length} columns of ${[...relations.keys()].join(", ")} ` +
      "and their foreign tables checked: none named like personal data",
  );
}

/**
 * Each of the node's foreign tables has local statistics. postgres_fdw decides whether LIMIT
 * and GROUP BY ship from them, and autovacuum never gathers them for foreign tables.
 */
export function checkStatistics({ node: { tables } }: OnNode): Finding {
  const never = tables.filter((t) => t.reltuples < 0).map((t) => t.name);
  if (never.length > 0) {
    return fail(
      `never analyzed: ${never.join(", ")}, so the planner guesses their size`,
      `analyze ${tables.map((t) => t.name).join(", ")} (again after large loads; on ` +
        "PostgreSQL 15 this reads each whole remote table, docs/operations.md)",
    );
  }
  return pass(
    tables.map((t) => `${t.name} ≈ ${Math.round(t.reltuples)} rows`).join(", ") +
      " in local statistics",
  );
}
