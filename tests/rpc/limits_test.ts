/**
 * Each limit the functions enforce with zod (functions/_shared/schemas.ts, interval.ts) is the
 * one the RPCs enforce in SQL for callers that reach them directly: read here from the database,
 * by catalog or by calling just inside and just past it, and compared.
 */
import assert from "node:assert/strict";
import { BUCKET_MS } from "../../functions/_shared/interval.ts";
import { LIMITS } from "../../functions/_shared/schemas.ts";
import { asCaller, connect, dbTest, fixture, vectorLiteral } from "../support/fixture.ts";

const supabase = connect("supabase");
const asService = { role: "service_role" } as const;
const query = vectorLiteral(Array(LIMITS.embeddingDimensions).fill(0.1));

/** Whether the statement is accepted, or refused with an argument error (22023). */
async function accepted(statement: string, params: unknown[]): Promise<boolean> {
  try {
    await asCaller(supabase, asService, (tx) => tx.unsafe(statement, params as never[]));
    return true;
  } catch (error) {
    assert.equal((error as { code?: string }).code, "22023", String(error));
    return false;
  }
}

/** Asserts that SQL accepts `limit` and refuses `limit + 1`. */
async function assertSqlLimit(limit: number, call: (value: number) => [string, unknown[]]) {
  assert.equal(await accepted(...call(limit)), true, `SQL accepts ${limit}`);
  assert.equal(await accepted(...call(limit + 1)), false, `SQL refuses ${limit + 1}`);
}

dbTest("the embedding width is the foreign table's vector width", async () => {
  const [{ width }] = await supabase`
    select a.atttypmod as width from pg_catalog.pg_attribute a
     where a.attrelid = 'bridge.events'::regclass and a.attname = 'event_embedding'`;
  assert.equal(width, LIMITS.embeddingDimensions);
});

dbTest("search_events takes as many matches as events-search", async () => {
  await assertSqlLimit(LIMITS.matchCount, (k) => [
    "select * from public.search_events($1::extensions.vector, $2::int)",
    [query, k],
  ]);
});

dbTest("mission_activity takes as many missions and rows as mission-activity", async () => {
  const ids = (count: number) =>
    Array.from({ length: count }, (_, i) => fixture.firstMissionId + i);
  await assertSqlLimit(LIMITS.missionIds, (count) => [
    "select * from public.mission_activity($1::bigint[], max_rows => 1)",
    [ids(count)],
  ]);
  await assertSqlLimit(LIMITS.activityRows, (rows) => [
    "select * from public.mission_activity($1::bigint[], max_rows => $2::int)",
    [ids(1), rows],
  ]);
});

dbTest("event_histogram takes as many buckets as event-histogram", async () => {
  const from = new Date("2026-10-01T00:00:00Z");
  await assertSqlLimit(LIMITS.buckets, (count) => [
    "select * from public.event_histogram('10 seconds', $1::timestamptz, $2::timestamptz)",
    [from, new Date(from.getTime() + count * BUCKET_MS["10 seconds"])],
  ]);
});

dbTest("event_histogram takes the buckets event-histogram offers, of the same widths", async () => {
  const rows = await supabase`
    select name, extract(epoch from name::interval) * 1000 as ms
      from unnest(bridge.histogram_buckets()) with ordinality as b(name, n)
     order by n`;
  assert.deepEqual(rows.map((row) => [row.name, Number(row.ms)]), Object.entries(BUCKET_MS));
});
