/**
 * A slow Timescale node: the link role's queries wait on a lock the test holds on the tables the
 * export views read. search and activity answer 504 within the request deadline, the statement
 * timeout cancels the query on the node too, and the next call after the lock goes succeeds.
 * Then the same, and a stopped and a hung node, with both servers speaking German: failures are
 * told apart by SQLSTATE and postgres.js codes, never by the words of a message.
 */
import assert from "node:assert/strict";
import { REQUEST_DEADLINE_MS } from "../../functions/_shared/http.ts";
import { activityResponse, searchResponse } from "../../functions/_shared/schemas.ts";
import { connect, dbTest, type Sql, withNodeStopped } from "../support/fixture.ts";
import { embedding, errorOf, invoke, serviceClient, userClient } from "../support/functions.ts";

const timescale = connect("timescale");
const supabase = connect("supabase");

const calls = {
  "events-search": { body: { embedding: embedding(5), k: 5 } },
  "mission-activity": { body: { missionIds: [10001, 10002, 10003], limit: 50 } },
};
/** The export view each call's statement on the node reads, which tells the two calls apart. */
const readsOnNode: Record<keyof typeof calls, string> = {
  "events-search": "export.events",
  "mission-activity": "export.activity_log",
};

/**
 * Holds an ACCESS EXCLUSIVE lock on the node's tables, as a long migration would, until the
 * returned function is called: every read of the export views waits.
 */
async function lockNodeTables(): Promise<() => Promise<void>> {
  const node = connect("timescale");
  const holder = await node.reserve();
  await holder`begin`;
  await holder`lock table public.events, public.activity_log in access exclusive mode`;
  return async () => {
    await holder`rollback`;
    holder.release();
    await node.end();
  };
}

/** The link role's statements on the node that read `view` and wait for a lock. */
async function waitingLinkQueries(node: Sql, view: string): Promise<number> {
  const [{ n }] = await node`
    select count(*)::int as n from pg_stat_activity
     where usename = 'bridge_reader' and state = 'active' and wait_event_type = 'Lock'
       and query ~ ${view.replace(".", "\\.") + "\\M"}`;
  return n;
}

/** Polls `probe` every 100 ms until it holds, for at most `ms`; whether it held. */
async function within(ms: number, probe: () => Promise<boolean>): Promise<boolean> {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    if (await probe()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return probe();
}

/** Calls `name` while the node's tables are locked: asserts the 504, its timing and the cancel. */
async function assertTimesOut(name: keyof typeof calls) {
  const started = performance.now();
  const answer = invoke(serviceClient(), name, calls[name]);
  assert.ok(
    await within(5000, async () => await waitingLinkQueries(timescale, readsOnNode[name]) > 0),
    `${name}'s query on the node waits for the lock`,
  );
  const timedOut = await answer;
  const elapsed = performance.now() - started;
  assert.equal(timedOut.status, 504, JSON.stringify(timedOut.body));
  assert.deepEqual(errorOf(timedOut), {
    code: "timeout",
    message: "the query ran longer than 8 s and was cancelled: " +
      "narrow the time range or ask for fewer rows",
  });
  assert.ok(elapsed < REQUEST_DEADLINE_MS, `the 504 took ${Math.round(elapsed)} ms`);
  assert.ok(
    await within(2000, async () => await waitingLinkQueries(timescale, readsOnNode[name]) === 0),
    `${name}'s query is cancelled on the node within 2 s`,
  );
}

/** Both functions answer again, with the rows the node holds. */
async function assertRecovered() {
  const client = await userClient(6);
  const search = await invoke(client, "events-search", calls["events-search"]);
  assert.equal(search.status, 200, JSON.stringify(search.body));
  assert.equal(searchResponse.parse(search.body).count, 5);
  const activity = await invoke(serviceClient(), "mission-activity", calls["mission-activity"]);
  assert.equal(activity.status, 200, JSON.stringify(activity.body));
  const [{ n }] = await timescale`
    select count(*)::int as n from (select from public.activity_log
     where mission_id in (10001, 10002, 10003) limit 50) page`;
  assert.equal(activityResponse.parse(activity.body).rows.length, n);
}

async function assertSlowNodeTimesOut() {
  const release = await lockNodeTables();
  try {
    await Promise.all([assertTimesOut("events-search"), assertTimesOut("mission-activity")]);
  } finally {
    await release();
  }
  await assertRecovered();
}

dbTest(
  "a node too slow for the link role is a 504 within the deadline, cancelled on the node",
  async () => {
    await assertSlowNodeTimesOut();
  },
);

/** Both servers' messages in German, for new sessions and those already open. */
async function speakGerman(on: boolean) {
  for (const node of [supabase, timescale]) {
    await node.unsafe(
      on ? "alter system set lc_messages = 'de_DE.UTF-8'" : "alter system reset lc_messages",
    );
    await node`select pg_reload_conf()`;
  }
}

/**
 * The message of a division by zero on `node`, once its session has read the reloaded
 * configuration: a backend applies pg_reload_conf() when the signal reaches it, which may be
 * after the next statement has begun (seen once: an English message right after the reload).
 */
async function divisionByZeroMessage(node: typeof supabase): Promise<string> {
  const englishMessage = /division by zero/;
  let message = "";
  for (const deadline = Date.now() + 5_000; Date.now() < deadline;) {
    message = await node`select 1 / 0`.then(() => "no error", (error: Error) => error.message);
    if (!englishMessage.test(message)) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return message;
}

dbTest(
  "with German server messages, failures are still told apart: 503 down, 504 slow",
  async () => {
    await speakGerman(true);
    try {
      // The setting took: the servers' messages are no longer English. The Supabase side's
      // PostgreSQL 17 (npm's build) has no message translations: there only the node speaks
      // German, and 15 proves the Supabase side's German (docs/design-pg17.md).
      const [{ major }] = await supabase`
        select current_setting('server_version_num')::int / 10000 as major`;
      for (const node of major === 15 ? [supabase, timescale] : [timescale]) {
        assert.match(await divisionByZeroMessage(node), /Division durch Null/);
      }
      await assertSlowNodeTimesOut();

      await withNodeStopped(async () => {
        const down = await invoke(serviceClient(), "mission-activity", calls["mission-activity"]);
        assert.equal(down.status, 503, JSON.stringify(down.body));
        assert.equal(errorOf(down).code, "unavailable");
      });
      await assertRecovered();
    } finally {
      await speakGerman(false);
    }
  },
);
