/**
 * What the Timescale node must have for the pushed-down plans: pgvector in the same schema as on
 * Supabase, and the indexes that answer the search and the activity queries.
 */
import { type CheckResult, fail, pass, rolledBack, type Sql } from "./check.ts";
import type { ForeignTable } from "./foreign_tables.ts";
import { type NodeCatalog, openNodeCatalog } from "./node_catalog.ts";

/** "0.8.0" → [0, 8, 0], for comparing versions. */
const versionParts = (version: string) => version.split(/[.-]/).map((part) => Number(part) || 0);

/** pgvector 0.8 brought iterative index scans, which the link role's settings rely on. */
const minimumNodeVersion = [0, 8, 0];

/**
 * pgvector on both nodes, and the schema of the `vector` type on Supabase also holds one on the
 * node: postgres_fdw ships `OPERATOR(<schema>.<=>)`, so a different schema on the node fails
 * every pushed-down search (DESIGN.md fact 2).
 */
export async function checkPgvector(sql: Sql): Promise<CheckResult> {
  const name = "pgvector";
  const [local] = await sql`
    select e.extversion, n.nspname::text as schema
      from pg_catalog.pg_extension e join pg_catalog.pg_namespace n on n.oid = e.extnamespace
     where e.extname = 'vector'`;
  if (!local) {
    return fail(name, "pgvector is not installed on Supabase", "apply the migrations");
  }
  const remote = await rolledBack(sql, async (tx) => {
    const node = await openNodeCatalog(tx);
    const [extension] = await tx.unsafe(
      `select e.extversion, n.nspname::text as schema
         from ${node.pg_extension} e join ${node.pg_namespace} n on n.oid = e.extnamespace
        where e.extname = 'vector'`,
    );
    const types = await tx.unsafe(
      `select n.nspname::text as schema
         from ${node.pg_type} t join ${node.pg_namespace} n on n.oid = t.typnamespace
        where t.typname = 'vector'`,
    );
    return { extension, typeSchemas: types.map((t) => t.schema as string) };
  });
  if (!remote.extension) {
    return fail(
      name,
      `pgvector ${local.extversion} in ${local.schema} on Supabase, not installed on the node`,
      `on the node: create extension vector with schema ${local.schema}`,
    );
  }
  const versions = `Supabase ${local.extversion} in ${local.schema}, node ` +
    `${remote.extension.extversion} in ${remote.extension.schema}`;
  if (!remote.typeSchemas.includes(local.schema)) {
    return fail(
      name,
      `${versions}: the vector type is in ${local.schema} on Supabase but in ` +
        `${
          remote.typeSchemas.join(", ")
        } on the node, so OPERATOR(${local.schema}.<=>) fails there`,
      `on the node: create schema if not exists ${local.schema}; ` +
        `alter extension vector set schema ${local.schema}`,
    );
  }
  const nodeVersion = versionParts(remote.extension.extversion);
  const older = minimumNodeVersion.findIndex((part, i) => nodeVersion[i] !== part);
  if (older >= 0 && nodeVersion[older] < minimumNodeVersion[older]) {
    return fail(
      name,
      `${versions}: the node needs 0.8.0 or later for iterative index scans`,
      "on the node: install pgvector 0.8 or later, then alter extension vector update",
    );
  }
  return pass(name, `${versions}; the vector type's schema matches`);
}

/** An index a pushed-down plan needs on the table behind one foreign table. */
interface RequiredIndex {
  check: string;
  foreignTable: string;
  what: string;
  definition: RegExp;
  create: (table: string) => string;
}

/** As sql/timescale/01_schema.sql creates them. */
const requiredIndexes: RequiredIndex[] = [
  {
    check: "node index for search",
    foreignTable: "bridge.events",
    what: "an HNSW index on event_embedding with vector_cosine_ops (the <=> the search orders by)",
    definition: /USING hnsw \(event_embedding (\w+\.)?vector_cosine_ops\)/,
    create: (table) =>
      `create index events_embedding_hnsw on ${table} using hnsw ` +
      `(event_embedding extensions.vector_cosine_ops)`,
  },
  {
    check: "node index for activity",
    foreignTable: "bridge.activity_log",
    what: "a btree index on (mission_id, event_time)",
    definition: /USING btree \(mission_id, event_time( DESC)?[,)]/,
    create: (table) =>
      `create index activity_log_mission_time on ${table} (mission_id, event_time desc)`,
  },
];

/**
 * The tables a remote relation reads: itself if it is a table, else the tables its view's
 * rewrite rule depends on (classid 2618 is pg_rewrite, refclassid 1259 pg_class; fixed OIDs).
 */
export async function tablesBehind(tx: Sql, node: NodeCatalog, schema: string, relation: string) {
  const rows = await tx.unsafe(
    `select tn.nspname::text as schema, t.relname::text as name
       from ${node.pg_class} v
       join ${node.pg_namespace} vn on vn.oid = v.relnamespace
       join ${node.pg_rewrite} r on r.ev_class = v.oid
       join ${node.pg_depend} d on d.classid = 2618 and d.objid = r.oid and d.refclassid = 1259
       join ${node.pg_class} t on t.oid = d.refobjid and t.oid <> v.oid and t.relkind in ('r', 'p')
       join ${node.pg_namespace} tn on tn.oid = t.relnamespace
      where vn.nspname = $1 and v.relname = $2
     union
     select n.nspname::text, c.relname::text
       from ${node.pg_class} c join ${node.pg_namespace} n on n.oid = c.relnamespace
      where n.nspname = $1 and c.relname = $2 and c.relkind in ('r', 'p')`,
    [schema, relation],
  );
  return rows.map((row) => ({ schema: row.schema as string, name: row.name as string }));
}

/** The node has each index the plans need, on the table behind the foreign table. */
export async function checkNodeIndexes(sql: Sql, tables: ForeignTable[]): Promise<CheckResult[]> {
  return await rolledBack(sql, async (tx) => {
    const node = await openNodeCatalog(tx);
    const results: CheckResult[] = [];
    for (const index of requiredIndexes) {
      const table = tables.find((t) => t.name === index.foreignTable);
      if (!table) {
        results.push(fail(
          index.check,
          `${index.foreignTable} does not exist`,
          "apply the migrations: npx supabase db push",
        ));
        continue;
      }
      const remote = `${table.remoteSchema}.${table.remoteTable}`;
      const behind = await tablesBehind(tx, node, table.remoteSchema, table.remoteTable);
      const indexes = await tx.unsafe(
        `select schemaname::text || '.' || tablename::text as "table", indexname::text as name,
                indexdef
           from ${node.pg_indexes}
          where schemaname::text || '.' || tablename::text = any($1::text[])`,
        [behind.map((t) => `${t.schema}.${t.name}`)],
      );
      const found = indexes.find((i) => index.definition.test(i.indexdef));
      const target = behind.length ? behind.map((t) => `${t.schema}.${t.name}`).join(", ") : remote;
      results.push(
        found
          ? pass(index.check, `${found.table} (behind ${remote}) has ${found.name}: ${index.what}`)
          : fail(
            index.check,
            behind.length
              ? `${target} (behind ${remote}) lacks ${index.what}`
              : `no table found behind ${remote} on the node`,
            `on the node: ${index.create(behind[0] ? target.split(", ")[0] : "<table>")}`,
          ),
      );
    }
    return results;
  });
}
