/**
 * Outages under load. 32 clients keep calling the functions while the Timescale node is stopped
 * for 10 s and started again: every failure is a 503 in our shape, no call takes 5 s or more,
 * every call from 10 s after the node is back succeeds, and every answer, before, during or
 * after, equals the same question asked of the node directly. And with every connection slot of
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
import { connect, dbTest, env, fixture } from "../support/fixture.ts";
import {
  embedding,
  secretKey,
  startTimescale,
  stopTimescale,
} from "../support/functions_fixture.ts";

const CLIENTS = 32;
const OUTAGE_MS = 10_000;
const RECOVERY_MS = 10_000;
const HANG_MS = 5_000;

const timescale = connect("timescale");
// As the link role: its settings (hnsw.ef_search, iterative scans) shape the node's search.
const reader = connect("reader");

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

/** The questions the clients ask, each with its answer read directly from the node. */
async function questions() {
  const activityRows = await timescale`
    select mission_id::int as "missionId", agent_id::text as "agentId", action
      from public.activity_log where mission_id = any(${missionIds}::bigint[])
     order by event_time desc, mission_id, agent_id, action, details limit 20`;
  const histogramRows = await timescale`
    select date_bin('6 hours', event_time, '2000-01-01') as start, event_type, count(*)::int as n
      from public.events where event_time >= ${window.from} and event_time < ${window.to}
     group by 1, 2 order by 1, 2`;
  const query = embedding(11);
  const nearest = await reader`
    select event_time, user_token from export.events
     order by event_embedding operator(extensions.<=>) ${`[${query.join(",")}]`}::extensions.vector
     limit 5`;
  return [
    {
      name: "events-search",
      body: { embedding: query, k: 5 },
      expected: nearest.map((row) => ({
        eventTime: new Date(row.event_time).toISOString(),
        userToken: row.user_token,
      })),
      answer: (body: unknown) =>
        searchResponse.parse(body).results.map(({ eventTime, userToken }) => ({
          eventTime: new Date(eventTime).toISOString(),
          userToken,
        })),
    },
    {
      name: "mission-activity",
      body: { missionIds, limit: 20 },
      expected: activityRows.map((row) => ({ ...row, agentId: Number(row.agentId) })),
      answer: (body: unknown) =>
        activityResponse.parse(body).rows.map(({ missionId, agentId, action }) => ({
          missionId,
          agentId,
          action,
        })),
    },
    {
      name: "event-histogram",
      body: { bucket: "6 hours", ...window },
      expected: histogramRows.map((row) => ({
        bucketStart: new Date(row.start).toISOString(),
        eventType: row.event_type,
        events: row.n,
      })),
      answer: (body: unknown) =>
        histogramResponse.parse(body).buckets.map((b) => ({
          ...b,
          bucketStart: new Date(b.bucketStart).toISOString(),
        })).sort((a, b) =>
          a.bucketStart.localeCompare(b.bucketStart) || a.eventType.localeCompare(b.eventType)
        ),
    },
  ];
}

interface Outcome {
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

    const client = async (n: number) => {
      for (let i = n; running; i++) {
        const q = asked[i % asked.length];
        const started = performance.now();
        const { status, body } = await call(q.name, q.body);
        const outcome: Outcome = {
          question: q.name,
          started,
          took: performance.now() - started,
          status,
        };
        if (status === 200) {
          try {
            assert.deepEqual(q.answer(body), q.expected);
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
        outcomes.push(outcome);
        // Paced, so 32 clients do not starve the other half of this 2-core machine.
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };

    const clients = Array.from({ length: CLIENTS }, (_, n) => client(n));
    let stopped = 0, back = 0;
    try {
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      stopped = performance.now();
      await stopTimescale();
      await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    } finally {
      await startTimescale();
      back = performance.now();
    }
    await new Promise((resolve) => setTimeout(resolve, RECOVERY_MS + 5_000));
    running = false;
    await Promise.all(clients);

    const problems = outcomes.filter((o) => o.problem).map((o) => `${o.question}: ${o.problem}`);
    assert.deepEqual(problems.slice(0, 10), [], `${problems.length} wrong or unexpected answers`);
    const slow = outcomes.filter((o) => o.took >= HANG_MS);
    assert.deepEqual(slow.map((o) => `${o.question} ${o.status} ${Math.round(o.took)} ms`), []);
    const before = outcomes.filter((o) => o.started + o.took < stopped);
    const during = outcomes.filter((o) => o.started >= stopped && o.started < back);
    const after = outcomes.filter((o) => o.started >= back + RECOVERY_MS);
    assert.ok(before.length > 0 && before.every((o) => o.status === 200), "all succeed before");
    assert.ok(during.some((o) => o.status === 503), "the outage was seen as 503s");
    assert.ok(after.length >= CLIENTS, `${after.length} calls after recovery`);
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
