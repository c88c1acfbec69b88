/**
 * The fixture for tests on several Timescale nodes. The test stack runs three, the
 * bridge starts with the first alone. What one node holding all the data answers is read here,
 * directly on that node by queries of its own, before any test attaches another node; the tests
 * then attach nodes, split the same seed across them (scripts/seed.ts) and compare every RPC with
 * those answers. A test file that seeds ends with restoreOneNode, as the other tests expect.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { locationKey } from "../../scripts/seed/generate.ts";
import { repoRoot } from "../../scripts/stack/config.ts";
import { timescaleNodeUrl } from "../../scripts/stack/lifecycle.ts";
import { testDatasetSeedArgs } from "./dataset.ts";
import {
  asCaller,
  bridgeSearch,
  connect,
  env,
  fixture,
  type SearchFilters,
  type Sql,
} from "./fixture.ts";
import * as oracle from "./oracle.ts";
import { linkStatementCount } from "./statements.ts";

export const supabase = connect("supabase");
type Row = Record<string, unknown>;
export const firstPort = Number(env("STACK_TIMESCALE_PORT"));
/** Admin connections to Timescale nodes 1, 2 and 3. */
export const nodes = [1, 2, 3].map((i) =>
  postgres(timescaleNodeUrl(env("TIMESCALE_DB_URL"), firstPort + i - 1), {
    max: 1,
    prepare: false,
    onnotice: () => {},
  })
);
export const [allData] = nodes;

/** Deno.test with steps, for tests holding database connections. */
export function nodesTest(name: string, fn: (t: Deno.TestContext) => Promise<void>) {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}

export const day = 86400_000;
export const daysBefore = (days: number) => new Date(fixture.until.getTime() - days * day);
/** A time as postgres_fdw writes it in Remote SQL, e.g. '2026-10-20 00:00:00+00'. */
export const sqlTime = (time: Date) => time.toISOString().replace("T", " ").replace(".000Z", "+00");
export const sites = (from: number, to: number) =>
  Array.from({ length: to - from + 1 }, (_, i) => locationKey(from + i));

export interface NodeSpec {
  name: string;
  /** Which Timescale node of the stack (2 or 3). */
  node: number;
  slice_from?: Date;
  slice_to?: Date;
  slice_values?: string[];
}

export const topologies: [string, NodeSpec[]][] = [
  ["1 node", []],
  ["2 nodes by time", [{ name: "cold", node: 2, slice_to: daysBefore(12) }]],
  ["3 nodes by time", [
    { name: "cold", node: 2, slice_from: daysBefore(20), slice_to: daysBefore(8) },
    { name: "colder", node: 3, slice_to: daysBefore(20) },
  ]],
  ["3 nodes by site", [
    { name: "west", node: 2, slice_values: sites(1, 30) },
    { name: "east", node: 3, slice_values: sites(31, 60) },
  ]],
];

export async function attach(spec: NodeSpec) {
  await supabase`
    select bridge.attach_node(${spec.name}, '127.0.0.1', ${firstPort + spec.node - 1}, 'postgres',
      'bridge_reader', ${env("BRIDGE_LINK_PASSWORD")}, 'require',
      slice_from => ${spec.slice_from ?? null}::timestamptz,
      slice_to => ${spec.slice_to ?? null}::timestamptz,
      slice_column => ${spec.slice_values ? "location_key" : null}::text,
      slice_values => ${spec.slice_values ?? null}::text[])`;
}

export async function detachAll() {
  for (const { name } of await supabase`select name from bridge.nodes where name <> 'default'`) {
    await supabase`select bridge.detach_node(${name})`;
  }
}

/** scripts/seed.ts, by default with the test dataset: it splits the rows by the slices in the catalog. */
export async function seed(seedArgs = testDatasetSeedArgs) {
  const { code, stderr } = await new Deno.Command(join(repoRoot, "node_modules", ".bin", "deno"), {
    args: ["run", "-A", "scripts/seed.ts", ...seedArgs],
    cwd: repoRoot,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, `seeding failed: ${new TextDecoder().decode(stderr)}`);
}

// ---- What one node holding all the data answers, read before any node is attached.

export const queries: string[] = (await allData`
  select event_embedding::text as embedding from public.events
   order by event_time limit 4 offset 200`).map((row) => row.embedding);
export const [{ common_type }] = await allData`
  select event_type as common_type from public.events group by 1 order by count(*) desc limit 1`;

export const searchFilters: [string, SearchFilters][] = [
  ["no filter", {}],
  ["an event type", { event_types: [common_type] }],
  ["a window across tiers", { time_from: daysBefore(15), time_to: daysBefore(5) }],
  ["a window in the newest tier", { time_from: daysBefore(6) }],
  ["a distance bound and a type", { max_distance: 0.5, event_types: [common_type] }],
];

/** Exact top-10s on the node holding all the data, by filter and query ("no filter 0"). */
export const expectedSearch = new Map<string, Row[]>();
for (const [name, filters] of searchFilters) {
  for (const [i, embedding] of queries.entries()) {
    expectedSearch.set(`${name} ${i}`, await oracle.exactSearch(allData, embedding, 10, filters));
  }
}

export const histogramCalls: [string, string, Date, Date, string[] | null][] = [
  ["1 day over the month", "1 day", daysBefore(30), fixture.until, null],
  ["1 hour across a boundary, one type", "1 hour", daysBefore(13), daysBefore(11), [common_type]],
  ["7 days, boundaries inside buckets", "7 days", daysBefore(29), fixture.until, null],
];
export const expectedHistogram = new Map<string, Row[]>();
for (const [name, bucket, from, to, event_types] of histogramCalls) {
  expectedHistogram.set(
    name,
    await oracle.exactHistogram(allData, bucket, from, to, null, event_types),
  );
}

// Missions spread over the seed's month (its missions are numbered in time order), so their
// activity lies on every tier.
export const missions = Array.from({ length: 12 }, (_, i) => fixture.firstMissionId + i * 250);
/** Every activity row of the missions in the documented order, from the node holding them all. */
export const expectedActivity = await oracle.exactActivity(allData, missions);
export const expectedInWindow = await oracle.exactActivity(allData, missions, {
  from: daysBefore(16),
  to: daysBefore(4),
});
/**
 * More than 50 missions: the step reads them newest first by event_time (docs/design.md § the
 * node's best plan).
 */
export const manyMissions = Array.from({ length: 60 }, (_, i) => fixture.firstMissionId + i * 49);
export const expectedManyMissions = await oracle.exactActivity(allData, manyMissions, {
  limit: 300,
});

/** Count and content of each table, over every node: the same seed must give the same rows. */
export async function tableSums(sql: Sql) {
  return await sql`
    select (select count(*) from public.events)::int as events,
           (select coalesce(sum(hashtext(e::text)::bigint), 0) from public.events e)::text
             as events_hash,
           (select count(*) from public.activity_log)::int as activity,
           (select coalesce(sum(hashtext(a::text)::bigint), 0) from public.activity_log a)::text
             as activity_hash`;
}
export const expectedSums = (await tableSums(allData))[0];

// ---- The calls through the bridge.

export const asService = <T>(fn: (tx: Sql) => Promise<T>, sql = supabase) =>
  asCaller(sql, { role: "service_role" }, fn);

export const search = (embedding: string, f: SearchFilters, sql = supabase) =>
  asService((tx) => bridgeSearch(tx, embedding, 10, f), sql);

/** Every page of the activity of `ids`, max_rows at a time, following the cursor. */
export async function pagedActivity(
  maxRows: number,
  from: Date | null = null,
  to: Date | null = null,
  sql = supabase,
  ids = missions,
) {
  const rows: Record<string, unknown>[] = [];
  let before: Date | null = null, position: number | null = null;
  for (;;) {
    const page = await asService((tx) =>
      tx`
      select mission_id, event_time, agent_id, action, details, tie_position
        from public.mission_activity(${ids}::bigint[], time_from => ${from}::timestamptz,
          time_to => ${to}::timestamptz, max_rows => ${maxRows}, before => ${before}::timestamptz,
          before_position => ${position}::int)`, sql);
    rows.push(...page);
    if (page.length < maxRows) return rows;
    before = page[page.length - 1].event_time as Date;
    position = page[page.length - 1].tie_position as number;
  }
}

/** The statements each node received whose text reads `relation`, counted per node. */
export const statementsPerNode = (relation: string): Promise<number[]> =>
  Promise.all(nodes.map((node) => linkStatementCount(node, relation)));

export async function resetStatements() {
  for (const node of nodes) await node`select pg_stat_statements_reset()`;
}

/** The plan of the unfiltered top-10 search, as bridge.nearest_events explains it. */
export const searchPlan = async () =>
  (await supabase`
    select plan from bridge.nearest_events(${queries[0]}::extensions.vector, 10, null, null,
      null, null, null, null, null, null, explain_only => true)`)[0].plan;

/** The plan of a 30-day histogram by day, as bridge.event_counts explains it. */
export const histogramPlan = async () =>
  (await supabase`
    select plan from bridge.event_counts('1 day', ${daysBefore(30)}, ${fixture.until}, null,
      explain_only => true)`)[0].plan;

/**
 * The plan of the newest `maxRows` rows of `ids`, as bridge.mission_activity_rows explains it:
 * each node's page is ordered one way for up to 50 missions and another way for more.
 */
export const activityPlan = async (ids: number[], maxRows: number) =>
  (await supabase`
    select plan from bridge.mission_activity_rows(${ids}::bigint[], null, null, null,
      ${maxRows}, null, null, explain_only => true)`)[0].plan;

/** Detaches every node and seeds the first alone, clearing the others, as the stack started. */
export async function restoreOneNode() {
  await detachAll();
  await seed();
  const [{ relkind }] = await supabase`
    select relkind from pg_class where oid = 'bridge.events'::regclass`;
  assert.equal(relkind, "f", "one node: bridge.events is the default node's foreign table");
  assert.deepEqual((await tableSums(allData))[0], expectedSums);
  for (const node of nodes.slice(1)) await node`truncate public.events, public.activity_log`;
}
