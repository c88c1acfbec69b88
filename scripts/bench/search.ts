/**
 * Search scenarios: public.search_events through the bridge against the same statement run
 * directly on the Timescale node (unfiltered, with a ~5% event type filter, with a 3-day
 * window), a signed-in user's scoped search against an unscoped one, and recall@10 of the
 * bridge's answers against exact search.
 */
import type postgres from "postgres";
import { FIVE_PERCENT_EVENT_TYPE } from "../seed/generate.ts";
import { BENCH_USER_ID, type Connections } from "./db.ts";
import { interleave, type Measured, summarize, type Variant } from "./measure.ts";
import { log } from "./progress.ts";
import {
  bridgeSearchSql,
  directSearchSql,
  recall,
  rowKey,
  type SearchFilters,
  searchParams,
  type SearchRow,
} from "./queries.ts";
import type { Report } from "./report.ts";

type Searched = Measured<string, SearchRow[]>;

/** What the search scenarios need from a run. */
export interface SearchRun {
  db: Connections;
  report: Report;
  vectors: string[];
  warmup: number;
  count: number;
  /** How many queries recall is measured over (exact search is a full scan each). */
  recallCount: number;
  /** The end of the seeded data: the 3-day window ends here. */
  until: Date;
}

/** The bridge: public.search_events on Supabase, as service_role (or on `sql`, as its caller). */
export function bridgeSearch(
  db: Connections,
  filters: SearchFilters,
  name = "bridge",
  sql = db.rpc,
): Variant<string, SearchRow[]> {
  const text = bridgeSearchSql(filters);
  return {
    name,
    run: (vector) => sql.unsafe<SearchRow[]>(text, searchParams(vector, 10, filters)),
  };
}

/** The bridge's statement, run with `sql` on `table` (the node's export view by default). */
export function directSearch(
  name: string,
  sql: postgres.Sql,
  filters: SearchFilters,
  table?: string,
): Variant<string, SearchRow[]> {
  const text = directSearchSql(filters, table);
  return {
    name,
    run: (vector) => sql.unsafe<SearchRow[]>(text, searchParams(vector, 10, filters)),
  };
}

/**
 * How the node plans the statement, as bridge_reader: by its HNSW indexes, or exactly, computing
 * the distance of every row that passes the filters (right for a few rows, ~100 times slower for
 * a 3-day window of the full dataset, which the planner chose before it was told what a distance
 * costs: sql/timescale/01_schema.sql).
 */
async function nodeSearchPlan(db: Connections, filters: SearchFilters, vector: string) {
  const [row] = await db.direct.unsafe(
    `explain (format json) ${directSearchSql(filters)}`,
    searchParams(vector, 10, filters),
  );
  const plan = JSON.stringify(row["QUERY PLAN"]);
  return /"Index Name":"[^"]*embedding_hnsw"/.test(plan)
    ? "the node searched its HNSW index"
    : "the node searched exactly, without its HNSW index";
}

/** How many queries got the same rows from both variants: they run the same search. */
function agreement(a: Searched, b: Searched): string {
  const same =
    a.results.filter((rows, i) => rows.map(rowKey).join() === b.results[i].map(rowKey).join())
      .length;
  return `${same}/${a.results.length} queries returned the same rows both ways`;
}

/** The bridge against the node's statement on the same queries; records bridge / direct. */
export async function compare(
  run: Pick<SearchRun, "db" | "report" | "vectors" | "warmup" | "count">,
  id: string,
  title: string,
  filters: SearchFilters,
) {
  const [bridge, direct] = await interleave(
    id,
    [bridgeSearch(run.db, filters), directSearch("direct", run.db.direct, filters)],
    run.vectors,
    run.warmup,
    run.count,
  );
  const short = bridge.results.filter((rows) => rows.length < 10).length;
  const [b, d] = [summarize("bridge", bridge.samples), summarize("direct", direct.samples)];
  run.report.scenario(id, title, [b, d], {
    ratios: [{ label: "bridge / direct (p50)", value: b.p50 / d.p50 }],
    note: agreement(bridge, direct) + (short ? `; ${short} returned fewer than 10 rows` : "") +
      `; ${await nodeSearchPlan(run.db, filters, run.vectors[0])}`,
  });
  run.report.metric(`ratio_${id}_bridge_vs_direct`, b.p50 / d.p50);
  return bridge;
}

/** Scopes of this many user tokens are measured (README, Security). */
const SCOPE_TOKENS = 100;

/**
 * Search as a signed-in user granted 100 user tokens (every 20th by activity, so the scope
 * holds heavy and light users), against the same search as service_role, whom no scope limits,
 * and against the node answering with the scope written out. The bench user's grants are
 * removed afterwards.
 */
async function scopedSearch(run: SearchRun) {
  const { db } = run;
  const tokens = (await db.timescaleAdmin<{ user_token: string }[]>`
    select user_token from (
      select user_token, row_number() over (order by count(*) desc, user_token) as rank
        from public.events group by 1) ranked
     where rank % 20 = 1 order by rank limit ${SCOPE_TOKENS}`).map((row) => row.user_token);
  await db.supabaseAdmin`
    insert into public.event_scopes (user_id, kind, key)
    select ${BENCH_USER_ID}::uuid, 'user_token', unnest(${tokens}::text[])`;
  try {
    const [scoped, unscoped, direct] = await interleave(
      "search_scoped",
      [
        bridgeSearch(db, {}, "scoped", db.scoped),
        bridgeSearch(db, {}, "unscoped"),
        directSearch("direct", db.direct, { scopeTokens: tokens }),
      ],
      run.vectors,
      run.warmup,
      run.count,
    );
    const short = scoped.results.filter((rows) => rows.length < 10).length;
    const [s, u, d] = [
      summarize("scoped", scoped.samples),
      summarize("unscoped", unscoped.samples),
      summarize("direct", direct.samples),
    ];
    run.report.scenario(
      "search_scoped",
      `search k=10 as a user granted ${tokens.length} tokens, vs unscoped (service_role)`,
      [s, u, d],
      {
        ratios: [{ label: "scoped / unscoped (p50)", value: s.p50 / u.p50 }],
        note: `scoped bridge vs the node with the scope written out: ${agreement(scoped, direct)}` +
          (short ? `; ${short} returned fewer than 10 rows` : ""),
      },
    );
    run.report.metric("ratio_search_scoped_vs_unscoped", s.p50 / u.p50);
    run.report.metric("ratio_search_scoped_bridge_vs_direct", s.p50 / d.p50);
  } finally {
    await db.supabaseAdmin`delete from public.event_scopes where user_id = ${BENCH_USER_ID}::uuid`;
  }
}

/** Recall@10 of the first `recallCount` timed answers of `found` against exact search. */
async function exactRecall(run: SearchRun, label: string, found: Searched, filters: SearchFilters) {
  const exact = directSearch("exact", run.db.exact, filters);
  const vectors = found.queries.slice(0, run.recallCount);
  const truth: SearchRow[][] = [];
  const started = performance.now();
  for (const [i, vector] of vectors.entries()) truth.push(await exact.run(vector, i));
  const value = recall(found.results.slice(0, truth.length), truth);
  log(
    `${label}: ${value.toFixed(4)} over ${truth.length} queries ` +
      `(exact search ${((performance.now() - started) / truth.length).toFixed(0)} ms each)`,
  );
  return value;
}

/**
 * Runs the search scenarios and records them, with recall@10 unfiltered and filtered.
 *
 * @example
 * await searchScenarios({ db, report, vectors, warmup: 20, count: 200, recallCount: 100, until });
 */
export async function searchScenarios(run: SearchRun) {
  const typed = { eventTypes: [FIVE_PERCENT_EVENT_TYPE] };
  const from = new Date(run.until.getTime() - 3 * 24 * 3600 * 1000).toISOString();
  const plain = await compare(run, "search", "search k=10", {});
  const filtered = await compare(
    run,
    "search_filtered",
    `search k=10, event type '${FIVE_PERCENT_EVENT_TYPE}' (~5%)`,
    typed,
  );
  await compare(run, "search_window", "search k=10, last 3 days", { from });
  await scopedSearch(run);

  run.report.metric("recall_at_10", await exactRecall(run, "recall@10", plain, {}));
  run.report.metric(
    "recall_at_10_filtered",
    await exactRecall(run, "recall@10 filtered", filtered, typed),
  );
}
