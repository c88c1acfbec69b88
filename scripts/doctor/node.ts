/**
 * What a Timescale node must have for the pushed-down plans: pgvector in the same schema as on
 * Supabase, the indexes that answer the search and the activity queries, and (advised, not
 * required) hypertables.
 */
import { fail, type Finding, type OnNode, pass } from "./check.ts";
import type { ForeignTable } from "./nodes.ts";

/** "0.8.0" → [0, 8, 0], for comparing versions. */
const versionParts = (version: string) => version.split(/[.-]/).map((part) => Number(part) || 0);

/** pgvector 0.8 brought iterative index scans, which the link role's settings rely on. */
const minimumNodeVersion = [0, 8, 0];

/**
 * pgvector on both nodes, and the schema of the `vector` type on Supabase also holds one on the
 * node: postgres_fdw ships `OPERATOR(<schema>.<=>)`, so a different schema on the node fails
 * every pushed-down search (DESIGN.md fact 2).
 */
export async function checkPgvector({ tx, catalog }: OnNode): Promise<Finding> {
  const extension = (extensions: string, namespaces: string) => `
    select e.extversion, n.nspname::text as schema
      from ${extensions} e join ${namespaces} n on n.oid = e.extnamespace
     where e.extname = 'vector'`;
  const [local] = await tx.unsafe(extension("pg_catalog.pg_extension", "pg_catalog.pg_namespace"));
  if (!local) return fail("pgvector is not installed on Supabase", "apply the migrations");
  const [remote] = await tx.unsafe(extension(catalog.pg_extension, catalog.pg_namespace));
  if (!remote) {
    return fail(
      `pgvector ${local.extversion} in ${local.schema} on Supabase, not installed on the node`,
      `on the node: create extension vector with schema ${local.schema}`,
    );
  }
  const typeSchemas = (await tx.unsafe(
    `select n.nspname::text as schema
       from ${catalog.pg_type} t join ${catalog.pg_namespace} n on n.oid = t.typnamespace
      where t.typname = 'vector'`,
  )).map((t) => t.schema as string);
  const versions = `Supabase ${local.extversion} in ${local.schema}, node ` +
    `${remote.extversion} in ${remote.schema}`;
  if (!typeSchemas.includes(local.schema)) {
    return fail(
      `${versions}: the vector type is in ${local.schema} on Supabase but in ` +
        `${typeSchemas.join(", ")} on the node, so OPERATOR(${local.schema}.<=>) fails there`,
      `on the node: create schema if not exists ${local.schema}; ` +
        `alter extension vector set schema ${local.schema}`,
    );
  }
  const nodeVersion = versionParts(remote.extversion);
  const older = minimumNodeVersion.findIndex((part, i) => nodeVersion[i] !== part);
  if (older >= 0 && nodeVersion[older] < minimumNodeVersion[older]) {
    return fail(
      `${versions}: the node needs 0.8.0 or later for iterative index scans`,
      "on the node: install pgvector 0.8 or later, then alter extension vector update",
    );
  }
  return pass(`${versions}; the vector type's schema matches`);
}

/** An index a pushed-down plan needs on the node's tables behind one bridge table. */
export interface RequiredIndex {
  check: string;
  /** The bridge table whose queries need it. */
  serves: string;
  what: string;
  definition: RegExp;
  create: (table: string) => string;
}

/** As sql/timescale/01_schema.sql creates them. */
export const requiredIndexes: RequiredIndex[] = [
  {
    check: "node index for search",
    serves: "bridge.events",
    what: "an HNSW index on event_embedding with vector_cosine_ops (the <=> the search orders by)",
    definition: /USING hnsw \(event_embedding (\w+\.)?vector_cosine_ops\)/,
    create: (table) =>
      `create index events_embedding_hnsw on ${table} using hnsw ` +
      `(event_embedding extensions.vector_cosine_ops)`,
  },
  {
    check: "node index for activity",
    serves: "bridge.activity_log",
    what: "a btree index on (mission_id, event_time)",
    definition: /USING btree \(mission_id, event_time( DESC)?[,)]/,
    create: (table) =>
      `create index activity_log_mission_time on ${table} (mission_id, event_time desc)`,
  },
];

/**
 * The tables, as "schema.name", a foreign table reads on the node: its remote relation if that
 * is a table, else the tables its view's rewrite rule depends on (classid 2618 is pg_rewrite,
 * refclassid 1259 pg_class; fixed OIDs).
 */
async function tablesBehind({ tx, catalog }: OnNode, table: ForeignTable): Promise<string[]> {
  const rows = await tx.unsafe(
    `select tn.nspname::text || '.' || t.relname::text as name
       from ${catalog.pg_class} v
       join ${catalog.pg_namespace} vn on vn.oid = v.relnamespace
       join ${catalog.pg_rewrite} r on r.ev_class = v.oid
       join ${catalog.pg_depend} d on d.classid = 2618 and d.objid = r.oid and d.refclassid = 1259
       join ${catalog.pg_class} t on t.oid = d.refobjid and t.oid <> v.oid and t.relkind in ('r', 'p')
       join ${catalog.pg_namespace} tn on tn.oid = t.relnamespace
      where vn.nspname = $1 and v.relname = $2
     union
     select n.nspname::text || '.' || c.relname::text
       from ${catalog.pg_class} c join ${catalog.pg_namespace} n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p')
     order by 1`,
    [table.remoteSchema, table.remoteTable],
  );
  return rows.map((row) => row.name as string);
}

/**
 * The node has `index` on the tables behind each of its foreign tables that hold rows of the
 * bridge table it serves; a node holding none of those rows needs none.
 */
export async function checkIndex(on: OnNode, index: RequiredIndex): Promise<Finding> {
  const parts = on.node.tables.filter((t) => t.serves === index.serves);
  if (parts.length === 0) {
    return on.held.has(index.serves)
      ? pass(`${on.node.name} holds no rows of ${index.serves}, so needs no such index`)
      : fail(`${index.serves} does not exist`, "apply the migrations: npx supabase db push");
  }
  const findings: Finding[] = [];
  for (const table of parts) {
    const remote = `${table.remoteSchema}.${table.remoteTable}`;
    const behind = await tablesBehind(on, table);
    const indexes = await on.tx.unsafe(
      `select schemaname::text || '.' || tablename::text as "table", indexname::text as name,
              indexdef
         from ${on.catalog.pg_indexes}
        where schemaname::text || '.' || tablename::text = any($1::text[])`,
      [behind],
    );
    const found = indexes.find((i) => index.definition.test(i.indexdef));
    findings.push(
      found ? pass(`${found.table} (behind ${remote}) has ${found.name}: ${index.what}`) : fail(
        behind.length
          ? `${behind.join(", ")} (behind ${remote}) lacks ${index.what}`
          : `no table found behind ${remote} on the node`,
        `on the node: ${index.create(behind[0] ?? "<table>")}`,
      ),
    );
  }
  const failed = findings.filter((f) => !f.ok);
  return failed.length
    ? fail(failed.map((f) => f.detail).join("; "), failed.map((f) => f.fix).join("; "))
    : pass(findings.map((f) => f.detail).join("; "));
}

/** What a plain table costs, against a hypertable's time chunks (DESIGN.md fact 5). */
const plainCost = "a time window cannot skip old data chunk by chunk, so a windowed search, " +
  "histogram or activity page reads indexes covering the whole history and slows as it grows, " +
  "and retention means DELETE and VACUUM instead of dropping whole chunks";

const convert = (table: string) =>
  `select create_hypertable('${table}', by_range('event_time', interval '7 days'), ` +
  "migrate_data => true) (it locks the table and copies every row into chunks: plan downtime)";

/**
 * Whether the tables behind the node's foreign tables are TimescaleDB hypertables. A plain table
 * is supported, as a node adopted with its own tables may have them (sql/timescale/ never
 * converts one), so this check passes either way; it says what a plain table costs and how to
 * convert it.
 */
export async function checkHypertables(on: OnNode): Promise<Finding> {
  const { tx, catalog } = on;
  const found: string[] = [];
  for (const table of on.node.tables) {
    for (const behind of await tablesBehind(on, table)) {
      const [hypertable] = await tx.unsafe(
        `select (select string_agg(format('%s by %s', d.time_interval, d.column_name), ', ')
                   from ${catalog.dimensions} d
                  where d.hypertable_schema = h.hypertable_schema
                    and d.hypertable_name = h.hypertable_name) as chunks
           from ${catalog.hypertables} h
          where h.hypertable_schema::text || '.' || h.hypertable_name::text = $1`,
        [behind],
      );
      found.push(
        hypertable
          ? `${behind} is a hypertable (chunks of ${hypertable.chunks})`
          : `${behind} is a plain table, not a hypertable: the bridge works on it, but ` +
            `${plainCost}; to convert: ${convert(behind)}`,
      );
    }
  }
  return pass(found.join("; ") || "no table found behind the foreign tables");
}
