/**
 * Each limit the functions enforce with zod (LIMITS in functions/_shared/schemas.ts, and the
 * buckets of interval.ts) is the one the RPCs enforce in SQL for callers that reach them directly:
 * read here from the database, by catalog or by calling just inside and just past it, and
 * compared. Every entry of LIMITS must say how SQL is asked, or that SQL does not enforce it, so a
 * limit added to LIMITS without that decision fails `deno check`.
 */
import assert from "node:assert/strict";
import { BUCKET_MS } from "../../functions/_shared/interval.ts";
import { LIMITS } from "../../functions/_shared/schemas.ts";
import { asCaller, connect, dbTest, fixture, vectorLiteral } from "../support/fixture.ts";

const supabase = connect("supabase");
const asService = { role: "service_role" } as const;
const query = vectorLiteral(Array(LIMITS.embeddingDimensions).fill(0.1));
const missionIds = (count: number) =>
  Array.from({ length: count }, (_, i) => fixture.firstMissionId + i);
const keys = (count: number) => Array.from({ length: count }, (_, i) => `type-${i}`);

/** A statement and its parameters that pass `value` where the limit applies. */
type Call = (value: number) => [string, unknown[]];

/**
 * How each limit is read from SQL: a call probed at the limit and just past it (`past`, the
 * limit plus one unless given), a catalog read, or `notInSql` with the reason SQL leaves it to
 * the functions, which the test confirms by SQL accepting a value past it.
 */
const sqlSide: Record<
  keyof typeof LIMITS,
  { call: Call; past?: number } | { catalog: () => Promise<number> } | {
    notInSql: string;
    call: Call;
  }
> = {
  embeddingDimensions: {
    catalog: async () => {
      const [{ width }] = await supabase`
        select a.atttypmod as width from pg_catalog.pg_attribute a
         where a.attrelid = 'bridge.events'::regclass and a.attname = 'event_embedding'`;
      return width;
    },
  },
  matchCount: {
    call: (k) => ["select * from public.search_events($1::extensions.vector, $2::int)", [query, k]],
  },
  missionIds: {
    call: (count) => [
      "select * from public.mission_activity($1::bigint[], max_rows => 1)",
      [missionIds(count)],
    ],
  },
  activityRows: {
    call: (rows) => [
      "select * from public.mission_activity($1::bigint[], max_rows => $2::int)",
      [missionIds(1), rows],
    ],
  },
  buckets: {
    call: (count) => {
      const from = new Date("2026-10-01T00:00:00Z");
      return [
        "select * from public.event_histogram('10 seconds', $1::timestamptz, $2::timestamptz)",
        [from, new Date(from.getTime() + count * BUCKET_MS["10 seconds"])],
      ];
    },
  },
  maxDistance: {
    call: (distance) => [
      "select * from public.search_events($1::extensions.vector, 1, max_distance => $2::float8)",
      [query, distance],
    ],
    past: LIMITS.maxDistance + 1e-9,
  },
  keyLength: {
    notInSql: "a longer key matches no row, so SQL has nothing to protect",
    call: (length) => [
      "select * from public.search_events($1::extensions.vector, 1, user_token => $2::text)",
      [query, "k".repeat(length)],
    ],
  },
  keysPerFilter: {
    notInSql: "each key is a parameter of one = any($n) on the node, so SQL has nothing to protect",
    call: (count) => [
      "select * from public.search_events($1::extensions.vector, 1, event_types => $2::text[])",
      [query, keys(count)],
    ],
  },
};

/** Whether the statement is accepted, or refused with an argument error (22023). */
async function accepted([statement, params]: [string, unknown[]]): Promise<boolean> {
  try {
    await asCaller(supabase, asService, (tx) => tx.unsafe(statement, params as never[]));
    return true;
  } catch (error) {
    assert.equal((error as { code?: string }).code, "22023", String(error));
    return false;
  }
}

for (const [name, limit] of Object.entries(LIMITS) as [keyof typeof LIMITS, number][]) {
  const side = sqlSide[name];
  if ("catalog" in side) {
    dbTest(`SQL's ${name} is the functions' ${limit}`, async () => {
      assert.equal(await side.catalog(), limit, `SQL's ${name} differs from LIMITS.${name}`);
    });
  } else if ("notInSql" in side) {
    dbTest(`${name} (${limit}) is the functions' alone: ${side.notInSql}`, async () => {
      assert.equal(
        await accepted(side.call(limit * 2)),
        true,
        `SQL refuses ${name} ${limit * 2}: compare its limit with LIMITS.${name} instead`,
      );
    });
  } else {
    const past = side.past ?? limit + 1;
    dbTest(`SQL takes ${name} up to the functions' ${limit}`, async () => {
      assert.equal(await accepted(side.call(limit)), true, `SQL refuses ${name} ${limit}`);
      assert.equal(await accepted(side.call(past)), false, `SQL accepts ${name} ${past}`);
    });
  }
}

dbTest("event_histogram takes the buckets event-histogram offers, of the same widths", async () => {
  const rows = await supabase`
    select name, extract(epoch from name::interval) * 1000 as ms
      from unnest(bridge.histogram_buckets()) with ordinality as b(name, n)
     order by n`;
  assert.deepEqual(rows.map((row) => [row.name, Number(row.ms)]), Object.entries(BUCKET_MS));
});
