/**
 * The one mapping from failures to HTTP: database errors by SQLSTATE, unexpected errors without
 * their text, and the interval arithmetic behind the histogram's bucket bound. No stack needed.
 */
import assert from "node:assert/strict";
import { databaseError } from "../../functions/_shared/db.ts";
import { BridgeError, errorResponse } from "../../functions/_shared/errors.ts";
import { bucketCount } from "../../functions/_shared/interval.ts";

const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });

Deno.test("database errors map to the documented statuses", () => {
  const table: [Error, number, RegExp][] = [
    [pgError("22023", "match_count must be between 1 and 100, got 0"), 400, /^match_count must/],
    [pgError("22P02", 'invalid input syntax for type bigint: "x"'), 400, /invalid input syntax/],
    [pgError("42501", "permission denied for function bridge_health"), 403, /may not do this/],
    [pgError("08001", 'could not connect to server "events_ts"'), 503, /Timescale node/],
    [pgError("08006", "connection failure"), 503, /Timescale node/],
    [pgError("57P01", "terminating connection due to administrator command"), 503, /Timescale/],
    [pgError("HV00N", 'could not connect to server "events_ts"'), 503, /Timescale node/],
    [pgError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5432"), 503, /the database/],
    [pgError("CONNECT_TIMEOUT", "write CONNECT_TIMEOUT 127.0.0.1:5432"), 503, /the database/],
    [pgError("53300", "sorry, too many clients already"), 503, /no free connection/],
    [pgError("57014", "canceling statement due to statement timeout"), 504, /longer than 8 s/],
  ];
  for (const [error, status, message] of table) {
    const mapped = databaseError(error);
    assert.ok(mapped instanceof BridgeError, `${error.message} was not mapped`);
    assert.equal(mapped.status, status, error.message);
    assert.match(mapped.message, message);
  }
});

Deno.test("errors are classified by code alone, never by the words of their message", () => {
  for (
    const message of [
      'could not connect to server "events_ts"',
      "server closed the connection unexpectedly",
      "SSL SYSCALL error: EOF detected",
    ]
  ) {
    const error = pgError("XX000", message);
    assert.equal(databaseError(error), error, `${message} stays unexpected without its code`);
  }
  const german = databaseError(pgError("08001", 'konnte nicht mit Server "events_ts" verbinden'));
  assert.ok(german instanceof BridgeError);
  assert.equal(german.status, 503);
});

Deno.test("an unexpected error is a 500 that keeps its text to the server log", async () => {
  const secret = "postgresql://postgres:hunter2@db.internal:5432/postgres";
  const error = pgError("XX000", `select * from bridge.events failed on ${secret}`);
  assert.equal(databaseError(error), error);
  const logged: unknown[] = [];
  const log = console.error;
  console.error = (...args: unknown[]) => logged.push(...args);
  try {
    const response = errorResponse(databaseError(error));
    assert.equal(response.status, 500);
    const body = await response.text();
    assert.doesNotMatch(body, /hunter2|select|postgresql:|\.ts:\d+/);
    assert.deepEqual(JSON.parse(body), {
      error: { code: "internal", message: "the function failed unexpectedly; it has been logged" },
    });
  } finally {
    console.error = log;
  }
  assert.ok(logged.includes(error));
});

Deno.test("a histogram's bucket count is its range over the bucket's width, rounded up", () => {
  assert.equal(bucketCount("1 hour", "2026-10-01T00:00:00Z", "2026-10-02T00:00:00Z"), 24);
  assert.equal(bucketCount("7 days", "2026-10-01T00:00:00Z", "2026-10-09T00:00:00Z"), 2);
  assert.equal(
    bucketCount("10 seconds", "2026-01-01T00:00:00Z", "2026-11-01T00:00:00Z"),
    2_626_560,
  );
  assert.equal(bucketCount("1 day", "not a time", "2026-11-01T00:00:00Z"), undefined);
});
