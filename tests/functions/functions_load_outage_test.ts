/**
 * Outages under load. 32 clients keep calling the functions while the Timescale node is stopped
 * for 10 s and started again: every failure is a 503 in our shape, no call takes 5 s or more,
 * every call from 10 s after the node is back succeeds, and every answer, before, during or
 * after, equals an exact scan on the node in every field. Each phase waits for the calls it
 * needs: a 200 for every client before the stop, a 503 for every question while the node is
 * down, a call by every client once it has been back 10 s. And with every connection slot of
 * the Supabase node taken, a call is a 503 at once, not a hang.
 */
import assert from "node:assert/strict";
import postgres from "postgres";
import { errorBody } from "../../functions/_shared/errors.ts";
import {
  activityResponse,
  histogramResponse,
  searchResponse,
} from "../../functions/_shared/schemas.ts";
import { activityRows, histogramRows, searchRows } from "../support/answers.ts";
import {
  connect,
  dbTest,
  env,
  fixture,
  vectorLiteral,
  withNodeStopped,
} from "../support/fixture.ts";
import { embedding, secretKey } from "../support/functions.ts";
import * as oracle from "../support/oracle.ts";

const CLIENTS = 32;
const OUTAGE_MS = 10_000;
const RECOVERY_MS = 10_000;
const HANG_MS = 5_000;
/** How long a phase may wait for the calls it needs before the test fails naming them. */
const PHASE_LIMIT_MS = 60_000;

const timescale = connect("timescale");

/** POSTs `body` to function `name` with the secret key; the status and parsed body. */
async function call(name: string, body: unknown) {
  const response = await fetch(`${env("SUPABASE_URL")}/functions/v1/${name}`, {
    method: "POST",
    headers: { apikey: secretKey(), "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

const missionIds = Array.from({ length: 8 }, (_, i) => fixture.firstMissionId + i * 7);
const day = 86_400_000;
const window = {
  from: new Date(fixture.until.getTime() - 3 * day).toISOString(),
  to: fixture.until.toISOString(),
};

/**
 * The questions the clients ask as the service role (no scope), each with its answer found by an
 * exact scan on the node, compared with every field of the function's answer.
 */
async function questions() {
  const query = embedding(11);
  return [
    {
      name: "events-search",
      body: { embedding: query, k: 5 },
      expected: await oracle.exactSearch(timescale, vectorLiteral(query), 5),
      rows: (body: unknown) => searchRows(searchResponse.parse(body)),
    },
    {
      name: "mission-activity",
      body: { missionIds, limit: 20 },
      expected: await oracle.exactActivity(timescale, missionIds, { limit: 20 }),
      rows: (body: unknown) => activityRows(activityResponse.parse(body)),
    },
    {
      name: "event-histogram",
      body: { bucket: "6 hours", ...window },
      expected: await oracle.exactHistogram(timescale, "6 hours", window.from, window.to),
      rows: (body: unknown) => histogramRows(histogramResponse.parse(body)),
    },
  ];
}

interface Outcome {
  client: number;
  question: string;
  started: number;
  took: number;
  status: number;
  problem?: string;
}

dbTest(
  `${CLIENTS} clients through a ${OUTAGE_MS / 1000} s outage of the Timescale node`,
  async () => {
    const asked = await questions();
    for (const q of asked) assert.ok(q.expected.length > 0, `${q.name} has rows to compare`);
    const outcomes: Outcome[] = [];
    let running = true;

    // Each phase ends once the calls it needs have been answered, not after a guessed pause.
    const waiting: { ready: () => boolean; resolve: () => void }[] = [];
    const record = (outcome: Outcome) => {
      outcomes.push(outcome);
      for (const waiter of waiting.filter((w) => w.ready())) {
        waiting.splice(waiting.indexOf(waiter), 1);
        waiter.resolve();
      }
    };
    const until = (what: string, ready: () => boolean) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      return Promise.race([
        new Promise<void>((resolve) => {
          if (ready()) resolve();
          else waiting.push({ ready, resolve });
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`not seen in time: ${what}`)), PHASE_LIMIT_MS);
        }),
      ]).finally(() => clearTimeout(timer));
    };
    const each = <T>(list: T[], test: (item: T) => boolean) => list.every(test);
    const clientIds = Array.from({ length: CLIENTS }, (_, n) => n);

    const client = async (n: number) => {
      for (let i = n; running; i++) {
        const q = asked[i % asked.length];
        const started = performance.now();
        const { status, body } = await call(q.name, q.body);
        const outcome: Outcome = {
          client: n,
          question: q.name,
          started,
          took: performance.now() - started,
          status,
        };
        if (status === 200) {
          try {
            oracle.assertSameRows(q.rows(body), q.expected);
          } catch {
            outcome.problem = `wrong answer: ${JSON.stringify(body).slice(0, 200)}`;
          }
        } else if (status === 503) {
          const error = errorBody.safeParse(body);
          if (!error.success || error.data.error.code !== "unavailable") {
            outcome.problem = `503 not in our shape: ${JSON.stringify(body).slice(0, 200)}`;
          }
        } else {
          outcome.problem = `status ${status}: ${JSON.stringify(body).slice(0, 200)}`;
        }
        record(outcome);
        // Paced, so 32 clients do not starve the other half of this 2-core machine.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };

    const clients = clientIds.map(client);
    let stopped = Infinity, back = Infinity;
    await until(
      "a 200 for every client before the stop",
      () => each(clientIds, (n) => outcomes.some((o) => o.client === n && o.status === 200)),
    );
    stopped = performance.now();
    await withNodeStopped(() =>
      Promise.all([
        new Promise((resolve) => setTimeout(resolve, OUTAGE_MS)),
        until("a 503 for every question while the node is down", () =>
          each(asked, (q) =>
            outcomes.some((o) =>
              o.question === q.name && o.started >= stopped && o.status === 503
            ))),
      ])
    );
    back = performance.now();
    try {
      await new Promise((resolve) => setTimeout(resolve, RECOVERY_MS));
      await until(
        `a call by every client from ${RECOVERY_MS / 1000} s after the restart`,
        () =>
          each(
            clientIds,
            (n) => outcomes.some((o) => o.client === n && o.started >= back + RECOVERY_MS),
          ),
      );
    } finally {
      running = false;
      await Promise.all(clients);
    }

    const problems = outcomes.filter((o) => o.problem).map((o) => `${o.question}: ${o.problem}`);
    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} wrong or unexpected answers`);
    const slow = outcomes.filter((o) => o.took >= HANG_MS);
    assert.deepEqual(slow.map((o) => `${o.question} ${o.status} ${Math.round(o.took)} ms`), []);
    const before = outcomes.filter((o) => o.started + o.took < stopped);
    const during = outcomes.filter((o) => o.started >= stopped && o.started < back);
    const after = outcomes.filter((o) => o.started >= back + RECOVERY_MS);
    assert.deepEqual(before.filter((o) => o.status !== 200).map((o) => o.status), []);
    assert.deepEqual(after.filter((o) => o.status !== 200).map((o) => o.status), []);
    const count = (list: Outcome[], status: number) =>
      list.filter((o) => o.status === status).length;
    console.log(
      `${outcomes.length} calls: ${before.length} before the stop, ${during.length} while down ` +
        `(${count(during, 503)} answered 503), ${after.length} from ${RECOVERY_MS / 1000} s ` +
        "after the restart, all 200 and equal to the node's answers",
    );
  },
);

dbTest(
  "with every connection slot of the Supabase node taken, a call is a 503 at once",
  async () => {
    const supabase = connect("supabase");
    const held: postgres.Sql[] = [];
    try {
      // The functions' pool keeps connections open: end them, so the next call needs a new one.
      await supabase`
      select pg_terminate_backend(pid) from pg_stat_activity
       where application_name = 'fdw-bridge-functions'`;
      for (let i = 0; i < 200; i++) {
        const connection = postgres(env("SUPABASE_DB_URL"), { max: 1, onnotice: () => {} });
        try {
          await connection`select 1`;
          held.push(connection);
        } catch (error) {
          await connection.end();
          assert.equal((error as { code?: string }).code, "53300", String(error));
          break;
        }
      }
      assert.ok(held.length > 0, "slots were taken");
      const started = performance.now();
      const full = await call("mission-activity", { missionIds, limit: 5 });
      const took = performance.now() - started;
      assert.equal(full.status, 503, JSON.stringify(full.body));
      assert.deepEqual(full.body, {
        error: {
          code: "unavailable",
          message: "the database has no free connection: try again shortly",
        },
      });
      assert.ok(took < HANG_MS, `the 503 took ${Math.round(took)} ms`);
    } finally {
      await Promise.all(held.map((connection) => connection.end()));
      await supabase.end();
    }
    const freed = await call("mission-activity", { missionIds, limit: 5 });
    assert.equal(freed.status, 200, JSON.stringify(freed.body));
  },
);
