/**
 * What a node receives for each RPC does not depend on how fresh the local statistics of the
 * foreign tables are. With the nodes holding 20,000 events and 100,000 activity rows, on 1 node
 * and on 3 nodes by time, each foreign table's statistics are set to 0 rows, to a few rows and
 * to never analyzed (as a superuser writes them into pg_class and pg_statistic), and every node
 * must receive, for each RPC, the very statement it receives with fresh statistics: ORDER BY <=>
 * ... LIMIT for search, mission_id = ANY ... LIMIT for activity, GROUP BY for the histogram.
 * What a node receives is read on the node, from its pg_stat_statements, so the test holds
 * whatever way the bridge sends it. The test ends with one node holding the test dataset again.
 *
 * Ignored for now, and listed as ignored in every run: search and histogram still send what
 * postgres_fdw plans from those statistics, and lose LIMIT or GROUP BY at 0, 5 and never-analyzed
 * rows (docs/design.md § statistics decide LIMIT pushdown). It runs once they compose their
 * node statements as the activity step does (supabase/schemas/ask_nodes.sql).
 */
import assert from "node:assert/strict";
import { foreignScansIn, shortened } from "../../scripts/plans.ts";
import { testDataset } from "../support/dataset.ts";
import { asCaller, fixture } from "../support/fixture.ts";
import {
  activityPlan,
  attach,
  daysBefore,
  detachAll,
  histogramPlan,
  missions,
  nodes,
  queries,
  restoreOneNode,
  searchPlan,
  seed,
  supabase,
  topologies,
} from "../support/nodes.ts";

/** A test of this file: ignored until search and histogram compose their node statements. */
function nodesTest(name: string, fn: (t: Deno.TestContext) => Promise<void>) {
  Deno.test({ name, fn, ignore: true, sanitizeOps: false, sanitizeResources: false });
}

/** The dataset of the issue that this test proves against: large enough for LIMIT to matter. */
const largeDataset = [
  ...["--events", "20000", "--activity", "100000", "--missions", String(testDataset.missions)],
  ...["--seed", String(testDataset.seed), "--until", testDataset.until],
];

/** How the local statistics of every foreign table are left before the calls. */
const states: [string, string[]][] = [
  ["0 rows", ["update pg_class set reltuples = 0, relpages = 0 where oid = $1::regclass"]],
  ["5 rows", ["update pg_class set reltuples = 5, relpages = 1 where oid = $1::regclass"]],
  ["never analyzed", [
    "update pg_class set reltuples = -1, relpages = 0 where oid = $1::regclass",
    "delete from pg_statistic where starelid = $1::regclass",
  ]],
];

/** The foreign tables of the bridge: the tables themselves, or each node's partition. */
const foreignTables = async () =>
  (await supabase`
    select c.oid::regclass::text as name from pg_class c
     where c.relnamespace = 'bridge'::regnamespace and c.relkind = 'f' order by 1`)
    .map((row) => row.name as string);

/** Each RPC as a caller makes it, and the shape each node's statement must have. */
const calls: { rpc: string; call: string; shape: RegExp }[] = [
  {
    rpc: "search_events",
    call: `select * from public.search_events('${queries[0]}'::extensions.vector, 10)`,
    shape: /from export\.events\b.* order by .*<=>.* limit /is,
  },
  {
    rpc: "mission_activity",
    call: `select * from public.mission_activity(array[${missions}]::bigint[], max_rows => 50)`,
    shape: /from export\.activity_log\b.*mission_id = any.* limit /is,
  },
  {
    rpc: "event_histogram",
    call: `select * from public.event_histogram('1 day', '${daysBefore(30).toISOString()}',
             '${fixture.until.toISOString()}')`,
    shape: /from export\.events\b.* group by /is,
  },
];

/**
 * The statements `call` made each node run on the export views, from the nodes'
 * pg_stat_statements: a cursor's query without its name (postgres_fdw's DECLARE cN CURSOR FOR,
 * numbered per connection), and no EXPLAIN (a planner's estimate, not the call's work).
 */
async function statementsReceived(call: string, asked: typeof nodes): Promise<string[][]> {
  for (const node of asked) await node`select pg_stat_statements_reset()`;
  await asCaller(supabase, { role: "service_role" }, (tx) => tx.unsafe(call));
  return await Promise.all(asked.map(async (node) =>
    (await node`
      select s.query from pg_stat_statements s join pg_roles r on r.oid = s.userid
       where r.rolname = 'bridge_reader' and s.query ilike '%from export.%'
         and s.query not ilike 'explain%'
       order by s.query`).map((row) =>
      shortened((row.query as string).replace(/^DECLARE c\d+ CURSOR FOR\s*/, ""))
    )
  ));
}

for (
  const [topology, specs] of topologies.filter(([name]) => /^(1 node|3 nodes by time)$/.test(name))
) {
  nodesTest(
    `${topology}: what each node receives does not depend on local statistics`,
    async (t) => {
      const asked = [nodes[0], ...specs.map((spec) => nodes[spec.node - 1])];
      try {
        for (const spec of specs) await attach(spec);
        // The seed analyzes the foreign tables once it has loaded the nodes: fresh statistics.
        await seed(largeDataset);
        const fresh = new Map<string, string[][]>();
        for (const { rpc, call, shape } of calls) {
          const received = await statementsReceived(call, asked);
          received.forEach((statements, i) => {
            assert.equal(
              statements.length,
              1,
              `${rpc}: node ${i + 1} got ${statements.join("\n")}`,
            );
            assert.match(statements[0], shape, `${rpc}, fresh statistics: node ${i + 1}`);
          });
          fresh.set(rpc, received);
        }

        const tables = await foreignTables();
        const saved = await supabase`
        select oid, reltuples, relpages from pg_class where oid = any(${tables}::regclass[])`;
        // Never analyzed comes last: it drops the column statistics, which only a seed brings back.
        for (const [state, statements] of states) {
          await t.step(`${state}: every node gets what it gets with fresh statistics`, async () => {
            for (const table of tables) {
              for (const statement of statements) await supabase.unsafe(statement, [table]);
            }
            const differences: string[] = [];
            for (const { rpc, call } of calls) {
              (await statementsReceived(call, asked)).forEach((statements, i) => {
                if (statements.join() !== fresh.get(rpc)![i].join()) {
                  differences.push(`${rpc}: node ${i + 1} received ${statements.join("; ")}`);
                }
              });
            }
            assert.deepEqual(
              differences,
              [],
              `local statistics at ${state}: the nodes received other statements than with ` +
                "fresh statistics",
            );
            const plans = [
              await searchPlan(),
              await histogramPlan(),
              await activityPlan(missions, 50),
            ];
            for (const plan of plans) {
              const scans = foreignScansIn(plan[0].Plan);
              assert.equal(scans.length, asked.length, `${state}: one statement per node`);
              if (asked.length > 1) {
                assert.ok(scans.every((scan) => scan.async), `${state}: every node asked at once`);
              }
            }
          });
          for (const row of saved) {
            await supabase`
            update pg_class set reltuples = ${row.reltuples}, relpages = ${row.relpages}
             where oid = ${row.oid}`;
          }
        }
        if (specs.length > 0) {
          await t.step(
            "a moved boundary: new partitions, 5-row statistics, the same shapes",
            async () => {
              // move_boundary lays the partitions out anew: foreign tables never analyzed.
              await supabase`select bridge.move_boundary(${daysBefore(8)}, ${daysBefore(7)})`;
              for (const table of await foreignTables()) {
                await supabase.unsafe(states[1][1][0], [table]);
              }
              for (const { rpc, call, shape } of calls) {
                (await statementsReceived(call, asked)).forEach((statements, i) => {
                  assert.equal(statements.length, 1, `${rpc}: node ${i + 1} got ${statements}`);
                  assert.match(statements[0], shape, `${rpc} after move_boundary: node ${i + 1}`);
                });
              }
            },
          );
        }
      } finally {
        await detachAll();
      }
    },
  );
}

nodesTest("the test dataset is back on one node", async () => {
  await restoreOneNode();
});
