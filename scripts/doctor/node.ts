/**
 * What a Timescale node must hold for the pushed-down plans: pgvector as on Supabase, the
 * indexes the queries need, hypertables (advised), and the FDW contract: export views that
 * match the foreign tables column for column, no column named like personal data, and row
 * estimates of the foreign tables that follow the node's own.
 */
import { applyMigrations, fail, type Finding, type OnNode, pass } from "./check.ts";
import type { Column, ForeignTable, Node } from "./nodes.ts";

/**
 * pgvector on both nodes, 0.8 or later on the node (iterative index scans, which the link role's
 * settings rely on), with a `vector` type in Supabase's schema of it: postgres_fdw ships
 * `OPERATOR(<schema>.<=>)`, which fails on a node without it (docs/design.md § operator schemas
 * match on both sides).
 */
export async function checkPgvector({ tx, catalog }: OnNode): Promise<Finding> {
  const vectorIn = async (catalogs: string) =>
    (await tx.unsafe(`
      select e.extversion, n.nspname::text as schema,
             array(select tn.nspname::text
                     from ${catalogs}.pg_type t
                     join ${catalogs}.pg_namespace tn on tn.oid = t.typnamespace
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

/** The indexes the pushed-down plans need, as sql/timescale/01_schema.sql creates them. */
export const requiredIndexes = [
  {
    check: "node index for search",
    serves: "bridge.events",
    what: "an HNSW index on event_embedding with vector_cosine_ops (the <=> the search orders by)",
    definition: /USING hnsw \(event_embedding (\w+\.)?vector_cosine_ops\)/,
    create: "create index events_embedding_hnsw on <table> using hnsw " +
      "(event_embedding extensions.vector_cosine_ops)",
  },
  {
    check: "node index for activity",
    serves: "bridge.activity_log",
    what: "a btree index on (mission_id, event_time)",
    definition: /USING btree \(mission_id, event_time( DESC)?[,)]/,
    create: "create index activity_log_mission_time on <table> (mission_id, event_time desc)",
  },
];

/**
 * The tables a foreign table reads on the node: its remote relation if a table, else those its
 * view's rule depends on (classid 2618 is pg_rewrite, refclassid 1259 pg_class: fixed OIDs).
 */
async function tablesBehind({ tx, catalog }: OnNode, table: ForeignTable): Promise<string[]> {
  const rows = await tx.unsafe(
    `select distinct tn.nspname::text || '.' || t.relname::text as name
       from ${catalog}.pg_class v
       join ${catalog}.pg_namespace vn on vn.oid = v.relnamespace
       left join ${catalog}.pg_rewrite r on r.ev_class = v.oid
       left join ${catalog}.pg_depend d
         on d.classid = 2618 and d.objid = r.oid and d.refclassid = 1259
       join ${catalog}.pg_class t on t.oid = coalesce(d.refobjid, v.oid) and t.relkind in ('r', 'p')
       join ${catalog}.pg_namespace tn on tn.oid = t.relnamespace
      where vn.nspname = $1 and v.relname = $2
      order by 1`,
    [table.remoteSchema, table.remoteTable],
  );
  return rows.map((row) => row.name);
}

/** The node has `index` behind each foreign table holding rows of the bridge table it serves. */
export async function checkIndex(
  on: OnNode,
  index: typeof requiredIndexes[number],
): Promise<Finding> {
  const parts = on.node.tables.filter((t) => t.serves === index.serves);
  if (parts.length === 0) {
    return on.held.has(index.serves)
      ? pass(`${on.node.name} holds no rows of ${index.serves}, so needs no such index`)
      : fail(`${index.serves} does not exist`, applyMigrations);
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
      fixes.push(`on the node: ${index.create.replace("<table>", behind[0] ?? "<table>")}`);
    }
  }
  return lacking.length ? fail(lacking.join("; "), fixes.join("; ")) : pass(found.join("; "));
}

/**
 * Whether the tables behind the foreign tables are hypertables. It passes either way: an adopted
 * node may keep plain tables (sql/timescale/ never converts one); it says what that costs
 * (docs/design.md § HNSW per chunk) and how to convert.
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

/**
 * The relations in the schemas the node's foreign tables read (normally `export`) and their
 * columns, each type as Supabase names it (resolved locally from the node's qualified name), so
 * `extensions.vector(768)` compares equal and a type Supabase lacks stays visible.
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

/** Each foreign table matches its node relation column for column, and each relation has one. */
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
    const localType = new Map(table.columns.map((c) => [c.name, c.type]));
    for (const { name, type } of columns) {
      const local = localType.get(name);
      if (!local) found.push(`${remote} has ${name} (${type}), ${table.name} lacks it`);
      else if (local !== type) {
        found.push(`${name} is ${local} on Supabase but ${type} on the node`);
      }
    }
    for (const { name } of table.columns.filter((c) => !columns.some((r) => r.name === c.name))) {
      found.push(`${table.name} reads ${name}, which ${remote} no longer has`);
    }
  }
  // A node may hold a relation the bridge reads from another node only (activity on the default
  // node when the others are sliced by a column activity_log lacks).
  for (const relation of relations.keys()) {
    if (!on.read.has(relation)) found.push(`${relation} has no foreign table on Supabase`);
  }
  if (found.length > 0) {
    return fail(
      found.join("; "),
      "if the node's change is intended: select * from bridge.refresh_foreign_tables(); " +
        "analyze bridge.events, bridge.activity_log; otherwise restore the view as " +
        "sql/timescale/02_export.sql defines it",
    );
  }
  const counted = tables.map((t) => `${t.name} = ${t.remoteSchema}.${t.remoteTable}`);
  return pass(`${counted.join(", ")}, column for column`);
}

/**
 * Name parts that say a column holds personal data, as in `email`, `user_name`, `client_ip`.
 * `raw` is data_payload_raw: the payload as it arrived, where personal data ends up (the seed's
 * holds e-mail addresses and phone numbers); only _proc may cross.
 */
const piiParts = new Set(
  ("email mail phone mobile name firstname lastname fullname surname username address addr " +
    "street ip ipv4 ipv6 ipaddr raw").split(" "),
);

/**
 * No column of the contract is named like personal data: foreign tables ignore RLS
 * (docs/design.md § foreign tables ignore RLS).
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

/** Whether postgres_fdw asks the node for a table's row estimates: its option, else its server's. */
const estimatedByNode = (node: Node, table: ForeignTable) =>
  (table.options.use_remote_estimate ?? node.options.use_remote_estimate ?? "false") === "true";

const literal = (text: string) => `'${text.replaceAll("'", "''")}'`;

/**
 * The rows the node's planner expects `table`'s remote relation to return, from the node's own
 * statistics: a scratch foreign table in the catalog schema asks it with use_remote_estimate.
 */
async function nodeEstimate({ tx, catalog, node }: OnNode, table: ForeignTable): Promise<number> {
  const scratch = `${catalog}.estimate_${table.name.replace(/\W/g, "_")}`;
  await tx.unsafe(
    `create foreign table ${scratch} () server ${node.name} options (schema_name ` +
      `${literal(table.remoteSchema)}, table_name ${literal(table.remoteTable)}, ` +
      "use_remote_estimate 'true')",
  );
  const [row] = await tx.unsafe(`explain (format json) select from ${scratch}`);
  return row["QUERY PLAN"][0].Plan["Plan Rows"];
}

/** Local and node row counts this far apart (and by this many rows) mislead the planner. */
const staleFactor = 2, staleRows = 1000;

/**
 * The planner's row estimates of the foreign tables: from local statistics, which must be close
 * to the node's own (postgres_fdw decides from them whether LIMIT and GROUP BY ship, and
 * autovacuum never gathers them for foreign tables), or asked of the node at plan time for a
 * table or server with use_remote_estimate.
 */
export async function checkStatistics(on: OnNode): Promise<Finding> {
  const { node } = on;
  const found: string[] = [], wrong: string[] = [], stale: string[] = [];
  for (const table of node.tables) {
    const local = Math.round(table.reltuples);
    if (estimatedByNode(node, table)) {
      found.push(`${table.name} is estimated by ${node.name} at plan time (use_remote_estimate)`);
      continue;
    }
    if (local < 0) {
      wrong.push(
        `${table.name} on ${node.name} was never analyzed, so the planner guesses its size`,
      );
    } else {
      const remote = Math.round(await nodeEstimate(on, table));
      const [low, high] = [Math.min(local, remote), Math.max(local, remote)];
      const line = `${table.name} on ${node.name}: local statistics ≈ ${local} rows, ` +
        `the node's own ≈ ${remote}`;
      if (high <= staleFactor * Math.max(low, 1) || high - low <= staleRows) {
        found.push(line);
        continue;
      }
      wrong.push(line);
    }
    stale.push(table.name);
  }
  if (wrong.length > 0) {
    return fail(
      `${wrong.join("; ")}; postgres_fdw decides from these whether LIMIT and GROUP BY reach ` +
        "the node",
      `analyze ${stale.join(", ")} (on PostgreSQL 15 and, through the export views, 16 and ` +
        "later, this reads every row of the node across the link, docs/operations.md); or let " +
        `the node estimate at plan time, a few round trips per statement: alter foreign table ` +
        `${stale[0]} options (add use_remote_estimate 'true')`,
    );
  }
  return pass(found.join("; "));
}
