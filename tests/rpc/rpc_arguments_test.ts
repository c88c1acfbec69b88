/** Bad arguments: each RPC rejects out-of-range input with SQLSTATE 22023 naming the parameter. */
import assert from "node:assert/strict";
import { asCaller, connect, dbTest, seedUserId } from "../support/fixture.ts";

const supabase = connect("supabase");
const vector = `[${Array(768).fill(0.1).join(",")}]`;
const caller = { role: "authenticated" as const, sub: seedUserId(1) };
const ids = (n: number) => Array.from({ length: n }, (_, i) => 10001 + i);

const cases: [string, string, unknown[], RegExp][] = [
  [
    "search k = 0",
    "select * from public.search_events($1::extensions.vector, 0)",
    [vector],
    /match_count must be between 1 and 100, got 0/,
  ],
  [
    "search k = 101",
    "select * from public.search_events($1::extensions.vector, 101)",
    [vector],
    /match_count must be between 1 and 100, got 101/,
  ],
  [
    "search null vector",
    "select * from public.search_events(null, 10)",
    [],
    /query_embedding must be a vector of 768 numbers, got null/,
  ],
  [
    "search time_from after time_to",
    "select * from public.search_events($1::extensions.vector, 10, time_from => '2026-02-01', time_to => '2026-01-01')",
    [vector],
    /time_from .* must not be after time_to/,
  ],
  [
    "search max_distance below 0",
    "select * from public.search_events($1::extensions.vector, 10, max_distance => -1)",
    [vector],
    /max_distance must be between 0 and 2/,
  ],
  [
    "search empty event_types",
    "select * from public.search_events($1::extensions.vector, 10, event_types => '{}')",
    [vector],
    /event_types must name at least one type/,
  ],
  [
    "activity with 0 ids",
    "select * from public.mission_activity('{}'::bigint[])",
    [],
    /mission_ids must hold 1 to 1000 ids, got 0/,
  ],
  [
    "activity with null ids",
    "select * from public.mission_activity(null)",
    [],
    /mission_ids must hold 1 to 1000 ids, got 0/,
  ],
  [
    "activity with 1001 ids",
    "select * from public.mission_activity($1::bigint[])",
    [ids(1001)],
    /mission_ids must hold 1 to 1000 ids, got 1001/,
  ],
  ["activity max_rows 0", "select * from public.mission_activity($1::bigint[], max_rows => 0)", [
    ids(3),
  ], /max_rows must be between 1 and 1000, got 0/],
  [
    "activity max_rows 1001",
    "select * from public.mission_activity($1::bigint[], max_rows => 1001)",
    [ids(3)],
    /max_rows must be between 1 and 1000, got 1001/,
  ],
  [
    "activity time_from after time_to",
    "select * from public.mission_activity($1::bigint[], time_from => '2026-02-01', time_to => '2026-01-01')",
    [ids(3)],
    /time_from .* must not be after time_to/,
  ],
  [
    "activity negative before_position",
    "select * from public.mission_activity($1::bigint[], before => '2026-01-01', before_position => -1)",
    [ids(3)],
    /before_position must be 0 or more .*, got -1/,
  ],
  [
    "activity before_position without before",
    "select * from public.mission_activity($1::bigint[], before_position => 2)",
    [ids(3)],
    /before_position needs before/,
  ],
  [
    "histogram time_from after time_to",
    "select * from public.event_histogram('1 hour', '2026-02-01', '2026-01-01')",
    [],
    /time_from .* must not be after time_to/,
  ],
  [
    "histogram zero bucket",
    "select * from public.event_histogram('0 seconds', '2026-01-01', '2026-01-02')",
    [],
    /bucket must be one of 10 seconds, 30 seconds, 1 minute, .*, 1 day, 7 days, got 00:00:00$/,
  ],
  [
    "histogram month bucket",
    "select * from public.event_histogram('1 month', '2026-01-01', '2026-12-01')",
    [],
    /bucket must be one of .*, got 1 mon$/,
  ],
  [
    "histogram bucket no chart uses",
    "select * from public.event_histogram('7 hours', '2026-01-01', '2026-01-02')",
    [],
    /bucket must be one of .*, got 07:00:00$/,
  ],
  [
    "histogram null bucket",
    "select * from public.event_histogram(null, '2026-01-01', '2026-01-02')",
    [],
    /bucket must be one of .*, got null$/,
  ],
  [
    "histogram too many buckets",
    "select * from public.event_histogram('10 seconds', '2026-01-01', '2026-01-05')",
    [],
    /makes 34560 buckets; at most 10000 are allowed/,
  ],
  [
    "histogram null time_from",
    "select * from public.event_histogram('1 hour', null, '2026-01-02')",
    [],
    /time_from and time_to are required/,
  ],
];

for (const [name, statement, params, message] of cases) {
  dbTest(`rejects ${name} with 22023`, async () => {
    await assert.rejects(
      asCaller(supabase, caller, (tx) => tx.unsafe(statement, params as never[])),
      (error: { code?: string; message?: string }) => {
        assert.equal(error.code, "22023", `${error.code}: ${error.message}`);
        assert.match(error.message ?? "", message);
        return true;
      },
    );
  });
}
