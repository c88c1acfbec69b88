/**
 * A TCP proxy that delays every chunk by a chosen one-way time, in both directions, so a local
 * stack behaves like one whose nodes are a round trip of 2 × oneWayMs away. Each direction of a
 * connection is a queue: a chunk is stamped when it arrives and written, in order, once its
 * stamp plus the delay has passed. Chunks that arrive while earlier ones wait are not held up
 * behind them, so the delay never adds up: a burst of chunks crosses in oneWayMs, as on a link.
 * Bandwidth is not limited. At 0 ms a chunk is written as soon as it is read.
 *
 * Deno's timers fire late (about 1.2 ms on this machine, more under load), so each wait is
 * shortened by how late they usually fire; the benchmark measures the round trip a direct
 * `select 1` gets through the proxy, rather than trusting the setting.
 *
 * @example
 * const proxy = startDelayProxy({ hostname: "127.0.0.1", port: 5432 });
 * proxy.oneWayMs = 10; // a 20 ms round trip from here on, for open connections too
 * // ... connect to 127.0.0.1:proxy.port ...
 * await proxy.close();
 *
 * From a shell, in front of a node: `deno run -A scripts/bench/delay-proxy.ts --to 54332
 * --listen 54340 --rtt 20`.
 */
import { parseArgs } from "node:util";

export interface DelayProxy {
  /** The port it listens on, on 127.0.0.1. */
  readonly port: number;
  /** The delay added to each chunk in each direction; may be changed at any time. */
  oneWayMs: number;
  /** Bytes relayed so far, both directions: proof that traffic really goes through it. */
  readonly bytes: number;
  /** Stops listening and cuts every connection it relays. */
  close(): Promise<void>;
}

/** The most taken off a wait for the timers' lateness, in ms: a tick and a little more. */
const MAX_TIMER_CORRECTION_MS = 1.5;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes the whole chunk: a socket may take only part of it at a time. */
async function writeAll(conn: Deno.Conn, chunk: Uint8Array) {
  for (let written = 0; written < chunk.length;) {
    written += await conn.write(chunk.subarray(written));
  }
}

const closeQuietly = (conn: Deno.Conn) => {
  try {
    conn.close();
  } catch {
    // already closed, by the other direction or by close()
  }
};

/**
 * Starts a proxy on 127.0.0.1 (`port` 0: any free port) to `target`. A connection to the proxy
 * opens one to the target at once, undelayed: the benchmark keeps its connections open, so
 * connection setup is never timed.
 */
export function startDelayProxy(
  target: { hostname: string; port: number },
  oneWayMs = 0,
  port = 0,
): DelayProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const open = new Set<Deno.TcpConn>();
  // How late the timers fired after the time asked for, over the last waits; their median is
  // taken off each wait. A timer fires on a millisecond tick, so about 1.2 ms late on a quiet
  // machine; at most that much is taken off, so that a busy moment's late timers cannot cut the
  // delays that follow it, which are then late by the machine's load, as the benchmark shows.
  const late: number[] = [];
  const lateness = () => {
    const sorted = [...late].sort((a, b) => a - b);
    return Math.min(sorted[sorted.length >> 1] ?? 1, MAX_TIMER_CORRECTION_MS);
  };
  let bytes = 0;

  /** Waits until `due`, a performance.now() time, less the timers' usual lateness. */
  async function waitUntil(due: number) {
    const asked = due - performance.now() - lateness();
    if (asked <= 0) return;
    const start = performance.now();
    await sleep(asked);
    // Asked for less than a tick, a timer still waits for the next one.
    late.push(performance.now() - start - Math.max(asked, 1));
    if (late.length > 32) late.shift();
  }

  /** Copies `from` to `to`, each chunk delayed from its arrival; ends both when either ends. */
  async function relay(from: Deno.TcpConn, to: Deno.TcpConn) {
    const queue: { chunk: Uint8Array | null; due: number }[] = [];
    let wake: (() => void) | undefined;
    const push = (chunk: Uint8Array | null) => {
      queue.push({ chunk, due: performance.now() + proxy.oneWayMs });
      wake?.();
    };
    const reading = (async () => {
      const buffer = new Uint8Array(64 * 1024);
      try {
        for (let n; (n = await from.read(buffer)) !== null;) push(buffer.slice(0, n));
      } catch {
        // the connection was cut: end the other direction as well
      }
      push(null);
    })();
    try {
      for (;;) {
        while (queue.length === 0) await new Promise<void>((resolve) => wake = resolve);
        const { chunk, due } = queue.shift()!;
        if (chunk === null) break;
        await waitUntil(due);
        await writeAll(to, chunk);
        bytes += chunk.length;
      }
    } catch {
      // `to` was closed: nothing more can be delivered
    }
    closeQuietly(to);
    closeQuietly(from);
    await reading;
  }

  async function serve(client: Deno.TcpConn) {
    open.add(client);
    let server: Deno.TcpConn | undefined;
    try {
      server = await Deno.connect({ ...target, transport: "tcp" });
      open.add(server);
      // Small messages (a query, a short answer) go out at once, as the endpoints intend.
      client.setNoDelay(true);
      server.setNoDelay(true);
      await Promise.all([relay(client, server), relay(server, client)]);
    } catch {
      // the target refused: the client sees its connection closed, as with a down node
    } finally {
      closeQuietly(client);
      if (server) closeQuietly(server);
      open.delete(client);
      if (server) open.delete(server);
    }
  }

  const accepting = (async () => {
    try {
      for await (const client of listener) serve(client);
    } catch {
      // the listener was closed
    }
  })();

  const proxy: DelayProxy = {
    port: (listener.addr as Deno.NetAddr).port,
    oneWayMs,
    get bytes() {
      return bytes;
    },
    async close() {
      listener.close();
      for (const conn of open) closeQuietly(conn);
      await accepting;
    },
  };
  return proxy;
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      to: { type: "string" },
      listen: { type: "string", default: "0" },
      rtt: { type: "string", default: "0" },
    },
  });
  const [port, listen, rtt] = [values.to, values.listen, values.rtt].map(Number);
  if (!Number.isInteger(port) || !Number.isInteger(listen) || !(rtt >= 0)) {
    console.error("usage: delay-proxy.ts --to PORT [--listen PORT] [--rtt MS]");
    Deno.exit(2);
  }
  const proxy = startDelayProxy({ hostname: "127.0.0.1", port }, rtt / 2, listen);
  console.error(`delay-proxy: 127.0.0.1:${proxy.port} -> 127.0.0.1:${port}, round trip +${rtt} ms`);
}
