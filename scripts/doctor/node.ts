/**
 * What a Timescale node must have for the pushed-down plans: pgvector in the same schema as on
 * Supabase, the indexes that answer the search and the activity queries, and (advised, not
 * required) hypertables.
 */
import { fail, type Finding, type OnNode, pass } from "./check.ts";
import type { ForeignTable } from "./nodes.ts";

/**
 * pgvector on both nodes, 0.8 or later on the node (for iterative index scans, which the link
 * role's settings rely on), and the schema of the `vector` type on Supabase also holds one on
 * the node: postgres_fdw ships `OPERATOR(<schema>.<=>)`, so a different schema on the node fails
 * every pushed-down search (DESIGN.md fact 2).
 */
export async function checkPgvector({ tx, catalog }: OnNode): Promise<Finding> {
  // The same question of Supabase's catalogs (pg_catalog) and of the node's (the scratch schema).
  const vectorIn = async (catalogs: string) =>
    (await tx.unsafe(`
      select e.extversion, n.nspname::text as schema,
             array(select tn.nspname::text
                     from ${catalogs}.pg_type t join ${catalogs}.pg_namespace tn
                       on tn.oid = t.typnamespace
                    where t.typname = 'vector') as type_schemas
        from ${catalogs}.pg_extension e join ${catalogs}.pg_namespace n on n.oid = e.extnamespace
       where e.extname = 'vector'`))[0];
  const local = await vectorIn("pg_catalog");
  if (!local) return fail("pgvector is not installed on Supabase", "apply the migrations");
  const remote = await vectorIn(catalog);
  if (!remote) {
    return fail(
      `pgvector ${local.extversion} in ${local.schema} on Supabase, not installed on the node`,
      `on the node: create extension vector with schema ${local.schema}`,
    );
  }
  const versions = `Supabase ${local.extversion} in ${local.schema}, node ` +
    `${remote.extversion} in ${remote.schema}`;
  if (!remote.type_schemas.includes(local.schema)) {
    return fail(
      `${versions}: the vector type is in ${local.schema} on Supabase but in ` +
        `${remote.type_schemas.join(", ")} on the node, so OPERATOR(${local.schema}.<=>) ` +
        "fails there",
      `on the node: create schema if not exists ${local.schema}; ` +
        `alter extension vector set schema ${local.schema}`,
    );
  }
  const [major, minor] = remote.extversion.split(".").map(Number);
  if (major === 0 && minor < 8) {
    return fail(
      `${versions}: the node needs 0.8.0 or later for iterative index scans`,
      "on the node: install pgvector 0.8 or later, then alter extension vector update",
    );
  }
  return pass(`${versions}; the vector type's schema matches`);
}

/**
 * The indexes the pushed-down plans need on the node's tables behind the bridge table they
 * serve, as sql/timescale/01_schema.sql creates them.
 */
export const requiredIndexes = [
  {
    check: "node index for search",
    serves: "bridge.events",
    what: "an HNSW index on event_embedding with vector_cosine_ops (the <=> the search orders by)",
    definition: /USING hnsw \(event_embedding (\w+\.)?vector_cosine_ops\)/,
    create: (table: string) =>
      `create index events_embedding_hnsw on ${table} using hnsw ` +
      `(event_embedding extensions.vector_cosine_ops)`,
  },
  {
    check: "node index for activity",
    serves: "bridge.activity_log",
    what: "a btree index on (mission_id, event_time)",
    definition: /USING btree \(mission_id, event_time( DESC)?[,)]/,
    create: (table: string) =>
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
       from ${catalog}.pg_class v
       join ${catalog}.pg_namespace vn on vn.oid = v.relnamespace
       join ${catalog}.pg_rewrite r on r.ev_class = v.oid
       join ${catalog}.pg_depend d on d.classid = 2618 and d.objid = r.oid and d.refclassid = 1259
       join ${catalog}.pg_class t on t.oid = d.refobjid and t.oid <> v.oid and t.relkind in ('r', 'p')
       join ${catalog}.pg_namespace tn on tn.oid = t.relnamespace
      where vn.nspname = $1 and v.relname = $2
     union
     select n.nspname::text || '.' || c.relname::text
       from ${catalog}.pg_class c join ${catalog}.pg_namespace n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p')
     order by 1`,
    [table.remoteSchema, table.remoteTable],
  );
  return rows.map((row) => row.name);
}

/**
 * The node has `index` on the tables behind each of its foreign tables that hold rows of the
 * bridge table it serves; a node holding none of those rows needs none.
 */
export async function checkIndex(
  on: OnNode,
  index: typeof requiredIndexes[number],
): Promise<Finding> {
  const parts = on.node.tables.filter((t) => t.serves === index.serves);
  if (parts.length === 0) {
    return on.held.has(index.serves)
      ? pass(`${on.node.name} holds no rows of ${index.serves}, so needs no such index`)
      : fail(`${index.serves} does not exist`, "apply the migrations: npx supabase db push");
  }
  const found: string[] = [], lacking: string[] = [], fixes: string[] = [];
  for (const table of parts) {
    const remote = `${table.remoteSchema}.${table.remoteTable}`;
    const behind = await tablesBehind(on, table);
    const indexes = await on.tx.unsafe(
      `select schemaname::text || '.' || tablename::text as "table", indexname::text as name,
              indexdef
         from ${on.catalog}.pg_indexes
        where schemaname::text || '.' || tablename::text = any($1::text[])`,
      [behind],
    );
    const hit = indexes.find((i) => index.definition.test(i.indexdef));
    if (hit) found.push(`${hit.table} (behind ${remote}) has ${hit.name}: ${index.what}`);
    else {
      lacking.push(
        behind.length
          ? `${behind.join(", ")} (behind ${remote}) lacks ${index.what}`
          : `no table found behind ${remote} on the node`,
      );
      fixes.push(`on the node: ${index.create(behind[0] ?? "<table>")}`);
    }
  }
  return lacking.length ? fail(lacking.join("; "), fixes.join("; ")) : pass(found.join("; "));
}

/**
 * Whether the tables behind the node's foreign tables are TimescaleDB hypertables. A plain table
 * is supported, as a node adopted with its own tables may have them (sql/timescale/ never
 * converts one), so this check passes either way; it says what a plain table costs against a
 * hypertable's time chunks (DESIGN.md fact 5), and how to convert it.
 */
export async function checkHypertables(on: OnNode): Promise<Finding> {
  const tables = new Set<string>();
  for (const table of on.node.tables) (await tablesBehind(on, table)).forEach((t) => tables.add(t));
  const chunks = new Map((await on.tx.unsafe(
    `select h.hypertable_schema::text || '.' || h.hypertable_name::text as name,
            (select string_agg(format('%s by %s', d.time_interval, d.column_name), ', ')
               from ${on.catalog}.dimensions d
              where d.hypertable_schema = h.hypertable_schema
                and d.hypertable_name = h.hypertable_name) as chunks
       from ${on.catalog}.hypertables h`,
  )).map((h) => [h.name, h.chunks]));
  const found = [...tables].sort().map((table) =>
    chunks.has(table)
      ? `${table} is a hypertable (chunks of ${chunks.get(table)})`
      : `${table} is a plain table, not a hypertable: the bridge works on it, but a time window ` +
        "cannot skip old data chunk by chunk, so a windowed search, histogram or activity page " +
        "reads indexes covering the whole history and slows as it grows, and retention means " +
        "DELETE and VACUUM instead of dropping whole chunks; to convert: select " +
        `create_hypertable('${table}', by_range('event_time', interval '7 days'), ` +
        "migrate_data => true) (it locks the table and copies every row into chunks: plan downtime)"
  );
  return pass(found.join("; ") || "no table found behind the foreign tables");
}
