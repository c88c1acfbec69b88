/**
 * The bridge against the node, side by side: searches (unfiltered, with a ~5% event type, in a
 * 3-day window), a signed-in user's scoped search, recall@10 against exact search, the naive
 * server, and mission_activity against the node's plans. "direct" always runs the statement the
 * bridge sends for that very call (its step's Remote SQL) on the node as bridge_reader.
 */
import type postgres from "postgres";
import { foreignScansIn } from "../plans.ts";
import { FIRST_MISSION_ID, FIVE_PERCENT_EVENT_TYPE } from "../seed/generate.ts";
import type { ThrowawayStack } from "../stack/throwaway.ts";
import * as db from "./db.ts";
import { interleave, log, type Measured } from "./measure.ts";
import { ratio, type Report } from "./report.ts";

/** What the scenarios need from a run. */
export interface Run {
  db: db.Connections;
  report: Report;
  vectors: string[];
  missions: number;
  warmup: number;
  count: number;
  until: Date;
}

const before = (until: Date, days: number) =>
  new Date(until.getTime() - days * 24 * 3600 * 1000).toISOString();

/** The window of the windowed activity calls: a week, ending three days before the data does. */
export const activityWindow = (until: Date) => [before(until, 10), before(until, 3)];

export type Search = [id: string, title: string, filters: db.SearchFilters];

/** The searches compared with the node. */
export const searches = (until: Date): Search[] => [
  ["search", "search k=10", {}],
  [
    "search_filtered",
    `search k=10, event type '${FIVE_PERCENT_EVENT_TYPE}' (~5%)`,
    { eventTypes: `{${FIVE_PERCENT_EVENT_TYPE}}` },
  ],
  ["search_window", "search k=10, last 3 days", { from: before(until, 3) }],
];

/** How many queries got the same rows from both variants, and how many fewer than 10. */
function agreement(a: Measured<unknown>, b: Measured<unknown>) {
  const same = a.results.filter((rows, i) => db.rowsKey(rows) === db.rowsKey(b.results[i])).length;
  const short = a.results.filter((rows) => (rows as unknown[]).length < 10).length;
  return `${same}/${a.results.length} queries returned the same rows both ways` +
    (short ? `; ${short} returned fewer than 10 rows` : "");
}

/**
 * What crosses the link per call of `query`, through `server`: each call's Remote SQL run on the
 * node as the link role, the rows it returns and their size in text form, which is how
 * postgres_fdw fetches them (a plan's width would miss the embeddings, fetched only to compute
 * the distance on Supabase). The mean over the calls given.
 */
async function traffic(run: Run, query: string, server: string, remotes: string[]) {
  let rows = 0, bytes = 0;
  for (const remote of remotes) {
    // The naive statement returns every event: longer than the link role's 15 s bound.
    const [sized] = await run.db.direct.begin(async (tx) => {
      await tx`set local statement_timeout = '300s'`;
      const size = "count(*)::int as rows, coalesce(sum(octet_length(r::text)), 0) as bytes";
      return await db.onNode(tx, `select ${size} from (${remote}) r`);
    });
    rows += sized.rows / remotes.length;
    bytes += Number(sized.bytes) / remotes.length;
  }
  // A server without fetch_size fetches postgres_fdw's default, 100 rows a round trip.
  const [{ fetchSize }] = await run.db.admin`
    select coalesce((select split_part(o, '=', 2) from unnest(srvoptions) o
                      where o like 'fetch_size=%'), '100')::int as "fetchSize"
      from pg_catalog.pg_foreign_server where srvname = ${server}`;
  run.report.link.push([query, rows, bytes / 1024, fetchSize, Math.ceil(rows / fetchSize) || 1]);
}

/**
 * How the node plans the bridge's statement: by its HNSW indexes, or exactly, computing the
 * distance of every row that passes the filters (right for a few rows, ~100 times slower for a
 * 3-day window of the full dataset, which the planner chooses when it is not told what a distance
 * costs: docs/design.md § cost of cosine_distance).
 */
async function nodeSearchPlan(run: Run, remote: string) {
  const [row] = await db.onNode(run.db.direct, `explain (format json) ${remote}`);
  return /"Index Name":"[^"]*embedding_hnsw"/.test(JSON.stringify(row["QUERY PLAN"]))
    ? "the node searched its HNSW index"
    : "the node searched exactly, without its HNSW index";
}

/** A search through the bridge against its statement on the node; records bridge / direct. */
export async function compareSearch(run: Run, [id, title, filters]: Search) {
  const queries = await db.prepare(run.db, run.vectors.map((v) => db.searchCall(v, filters)));
  const measured = await interleave(id, queries, run, [
    ["bridge", (q) => db.viaBridge(run.db.rpc, q.call)],
    ["direct", (q) => db.onNode(run.db.direct, q.remote)],
  ]);
  const [bridge, direct] = measured;
  const plan = await nodeSearchPlan(run, queries[0].remote);
  await traffic(run, id, "events_ts", queries.slice(0, 5).map((q) => q.remote));
  run.report.scenario(id, title, measured, [
    ratio(bridge, direct, `ratio_${id}_bridge_vs_direct`),
  ], `${agreement(bridge, direct)}; ${plan}`);
  return bridge;
}

/**
 * Search as a signed-in user granted 100 user tokens (every 20th by activity, so the scope holds
 * heavy and light users; README, Security), against the same search as service_role, whom no
 * scope limits, and against the bridge's statement on the node given that scope. The bench
 * user's grants are removed afterwards.
 */
async function scopedSearch(run: Run) {
  const tokens = (await run.db.node`
    select user_token from (
      select user_token, row_number() over (order by count(*) desc, user_token) as rank
        from public.events group by 1) ranked
     where rank % 20 = 1 order by rank limit 100`).map((row) => row.user_token);
  await run.db.admin`
    insert into public.event_scopes (user_id, kind, key)
    select ${db.BENCH_USER_ID}::uuid, 'user_token', unnest(${tokens}::text[])`;
  try {
    const scope = db.scopeParams(`{${tokens.join(",")}}`);
    const queries = await db.prepare(run.db, run.vectors.map((v) => db.searchCall(v)));
    const measured = await interleave("search_scoped", queries, run, [
      ["scoped", (q) => db.viaBridge(run.db.scoped, q.call)],
      ["unscoped", (q) => db.viaBridge(run.db.rpc, q.call)],
      ["direct", (q) => db.onNode(run.db.direct, q.remote, scope)],
    ]);
    const [scoped, unscoped, direct] = measured;
    run.report.scenario(
      "search_scoped",
      `search k=10 as a user granted ${tokens.length} tokens, vs unscoped (service_role)`,
      measured,
      [ratio(scoped, unscoped, "ratio_search_scoped_vs_unscoped")],
      `scoped bridge vs the node with the scope written out: ${agreement(scoped, direct)}`,
    );
    run.report.metric("ratio_search_scoped_bridge_vs_direct", scoped.p50 / direct.p50);
  } finally {
    await run.db.admin`delete from public.event_scopes where user_id = ${db.BENCH_USER_ID}::uuid`;
  }
}

/**
 * Recall@10 of the bridge's first `count` timed answers: the share of the exact top 10 they
 * hold, exact being the bridge's own statement on the node with index scans off.
 */
async function recall(run: Run, found: Measured<db.Prepared>, count: number) {
  let hits = 0, total = 0;
  const started = performance.now();
  for (const [i, query] of found.queries.slice(0, count).entries()) {
    const keys = new Set((found.results[i] as postgres.Row[]).map(db.rowKey));
    const exact = await db.onNode(run.db.exact, query.remote);
    hits += exact.filter((row) => keys.has(db.rowKey(row))).length;
    total += exact.length;
  }
  const each = (performance.now() - started) / count;
  log(`recall@10: ${(hits / total).toFixed(4)} (exact search ${each.toFixed(0)} ms each)`);
  return hits / total;
}

/** Runs the search scenarios, the scoped search and recall@10 unfiltered and filtered. */
export async function searchScenarios(run: Run, recallCount: number) {
  const [plain, filtered, windowed] = searches(run.until);
  const found = [await compareSearch(run, plain), await compareSearch(run, filtered)];
  await compareSearch(run, windowed);
  await scopedSearch(run);
  const unfiltered = await recall(run, found[0], recallCount);
  const typed = await recall(run, found[1], recallCount);
  run.report.metric("recall_at_10", unfiltered);
  run.report.metric("recall_at_10_filtered", typed);
  run.report.notes.push(
    "Recall@10 of the bridge's answers against exact search (index scans off): " +
      `${unfiltered.toFixed(3)} unfiltered, ${typed.toFixed(3)} filtered, over ${recallCount} ` +
      "queries each.",
  );
}

/**
 * The naive search, the benchmark's own statement (the bridge never sends it): the top 10 on a
 * foreign table whose server lacks `extensions 'vector'`, as the seed's DDL had it. It cannot
 * ship the distance operator, so every row crosses the link and is sorted on Supabase
 * (docs/design.md § vector pushdown needs the extensions option).
 */
const NAIVE_SEARCH = `select e.event_time, e.user_token, e.agent_key, e.device_key,
    e.event_embedding operator(extensions.<=>) $1::extensions.vector as distance
  from bench_naive.events e where e.event_embedding is not null
  order by e.event_embedding operator(extensions.<=>) $1::extensions.vector limit 10`;

/**
 * Creates server events_ts_naive to the same node, its user mapping and bench_naive.events (on
 * the benchmark's own stack only), then times the naive search against the bridge on `count`
 * queries after one warm-up round.
 */
export async function naiveScenario(run: Run, stack: ThrowawayStack, count: number) {
  const sql = run.db.admin;
  await sql.unsafe(`create server if not exists events_ts_naive foreign data wrapper postgres_fdw
    options (host '127.0.0.1', port '${stack.config.timescalePort}', dbname 'postgres',
             sslmode 'require')`);
  await sql.unsafe(`create user mapping if not exists for postgres server events_ts_naive
    options (user 'bridge_reader', password '${stack.env.BRIDGE_LINK_PASSWORD}')`);
  await sql`create schema if not exists bench_naive`;
  await sql`import foreign schema export limit to (events) from server events_ts_naive
    into bench_naive`;
  const measured = await interleave("search_naive", run.vectors, { warmup: 1, count }, [
    ["naive", (vector) => sql.unsafe(NAIVE_SEARCH, [vector])],
    ["bridge", (vector) => db.viaBridge(run.db.rpc, db.searchCall(vector))],
  ]);
  run.report.scenario(
    "search_naive",
    "search k=10, naive server (no extensions 'vector')",
    measured,
    [ratio(measured[0], measured[1], "ratio_naive_vs_bridge")],
    `${count} queries: each pulls every event across the link`,
  );
  // One is enough: it pulls every event whatever the query.
  const [plan] = await sql.unsafe(`explain (verbose, format json) ${NAIVE_SEARCH}`, [
    run.vectors[0],
  ]);
  const remotes = foreignScansIn(plan["QUERY PLAN"][0].Plan).map((scan) => scan.remoteSql);
  await traffic(run, "search_naive", "events_ts_naive", remotes);
}

/** Missions per call in the activity scenarios. */
const ACTIVITY_SIZES = [1, 10, 100, 1000];

/** How the node can order a page newest first: one order, three plans. */
const NODE_PLANS = ["event_time", "mission_ranges", "lateral"] as const;

/**
 * The same page as the bridge's, written by the benchmark for the node (export view,
 * bridge_reader), for the plans the bridge does not send for this call:
 * - event_time: what the bridge sends for many missions; the node
 *   walks its event_time index backwards, filtering by mission;
 * - mission_ranges: ordered by date_bin(1 µs), equal to event_time but no index gives it, so the
 *   node reads the missions' (mission_id, event_time) index ranges and sorts; what the bridge
 *   sends for a few missions;
 * - lateral: each mission's newest 100 by an index scan, then the newest 100 of those;
 *   postgres_fdw cannot send it.
 */
function referencePlan(plan: typeof NODE_PLANS[number], windowed: boolean) {
  const columns = "a.mission_id, a.event_time, a.agent_id, a.action, a.details";
  const filter = windowed ? " and a.event_time >= $2::timestamptz and a.event_time < $3" : "";
  const ties = `a.mission_id, a.agent_id, a.action, a.details limit ${db.PAGE_ROWS}`;
  if (plan === "lateral") {
    return `select a.* from unnest($1::bigint[]) m(id) cross join lateral (
        select ${columns} from export.activity_log a where a.mission_id = m.id${filter}
         order by a.event_time desc, a.agent_id, a.action, a.details limit ${db.PAGE_ROWS}) a
       order by a.event_time desc, ${ties}`;
  }
  const newest = plan === "event_time"
    ? "a.event_time"
    : "date_bin('1 microsecond', a.event_time, '2000-01-01 00:00+00')";
  return `select ${columns} from export.activity_log a
     where a.mission_id = any($1::bigint[])${filter} order by ${newest} desc, ${ties}`;
}

/**
 * A page's identity: its first db.PAGE_ROWS rows in order, by every column the node returns. The
 * bridge's statement can come without its LIMIT (the planner may keep it on Supabase when it
 * expects fewer rows), so the node returns more, and the bridge keeps the first db.PAGE_ROWS.
 */
const pageKey = (rows: postgres.Row[]) =>
  rows.slice(0, db.PAGE_ROWS).map((r) =>
    `${r.mission_id}|${r.event_time.toISOString()}|${r.agent_id}|${r.action}|` +
    JSON.stringify(r.details)
  ).join("\n");

/**
 * mission_activity, the newest 100 rows of `sizes` missions, without and with the window,
 * against the node's three plans. The one the bridge chose (read from its Remote SQL) runs the
 * bridge's own statement: bridge / same SQL. The bridge is timed beside each plan in turn, in
 * pairs: interleaved with all of them at once, the slowest plan (the event_time walk reads
 * ~100,000 rows) slowed the calls after it, the bridge's most. The fastest plan that returned
 * the bridge's rows in every call is the best plan the bridge is held to, from its own pair.
 */
export async function activityScenarios(run: Run, sizes = ACTIVITY_SIZES, windows = [false, true]) {
  for (const windowed of windows) {
    const window = windowed ? activityWindow(run.until) : [];
    const suffix = windowed ? "_window" : "";
    for (const size of sizes) {
      const id = `activity_${size}${suffix}`;
      const sets = db.missionIdSets(FIRST_MISSION_ID, run.missions, size, run.warmup + run.count);
      const queries = await db.prepare(run.db, sets.map((ids) => db.activityCall(ids, window)));
      const sent = /order by date_bin/i.test(queries[0].remote) ? "mission_ranges" : "event_time";
      const sized = queries.slice(0, 5).map((q) => db.asRows(q.remote, "export.activity_log"));
      if (!windowed) await traffic(run, id, "events_ts", sized);
      const pairs = [];
      for (const plan of NODE_PLANS) {
        const reference = referencePlan(plan, windowed);
        const [bridge, node] = await interleave(`${id}, beside ${plan}`, queries, run, [
          [`bridge beside ${plan}`, async (q) => pageKey(await db.viaBridge(run.db.rpc, q.call))],
          [plan, async (q) =>
            pageKey(
              plan === sent
                ? await db.onNode(run.db.direct, db.asRows(q.remote, "export.activity_log"))
                : await run.db.direct.unsafe(reference, [q.call.params[0], ...window]),
            )],
        ]);
        const differing = node.results.filter((page, i) => page !== bridge.results[i]).length;
        pairs.push({ plan, bridge, node, ratio: bridge.p50 / node.p50, differing });
      }
      const same = pairs.find((pair) => pair.plan === sent)!;
      // Only a plan that returned the bridge's rows in every call answers the same question.
      const best = pairs.filter((pair) => pair.differing === 0)
        .reduce((a, b) => b.node.p50 < a.node.p50 ? b : a);
      const pages = pairs[0].bridge.results as string[];
      const rows = pages.reduce((sum, page) => sum + (page ? page.split("\n").length : 0), 0);
      const differing = pairs.filter((pair) => pair.differing > 0)
        .map((p) => `${p.plan} differed from the bridge in ${p.differing} calls`);
      run.report.scenario(
        id,
        `mission_activity, ${size} mission${size > 1 ? "s" : ""}, newest ${db.PAGE_ROWS} rows` +
          (windowed ? ", one-week window" : ""),
        pairs.flatMap((pair) => [pair.bridge, pair.node]),
        [
          [
            `bridge / same SQL (${sent})`,
            same.ratio,
            `ratio_activity_bridge_vs_direct_${size}${suffix}`,
          ],
          [
            `bridge / best plan (${best.plan})`,
            best.ratio,
            `ratio_activity_bridge_vs_best_${size}${suffix}`,
          ],
        ],
        `${
          (rows / pages.length).toFixed(1)
        } rows per call; bridge / plan, each pair side by side: ` +
          pairs.map((pair) => `${pair.plan} ${pair.ratio.toFixed(2)}`).join(", ") + "; " +
          (differing.join(", ") || "every plan returned the bridge's rows"),
      );
      run.report.metric(`${id}_bridge_beside_best_p50_ms`, best.bridge.p50);
      run.report.metric(`${id}_best_plan_p50_ms`, best.node.p50);
    }
  }
}
