/**
 * Links that verify the node's certificate: on PostgreSQL 16 and later, bridge.configure and
 * bridge.attach_node link a node with `sslmode verify-full` and `sslrootcert system` when its
 * certificate names the host dialled and comes from a CA the Supabase side trusts (the stack's
 * CA, through SSL_CERT_FILE), and refuse, changing nothing, a certificate for another name or
 * from an unknown CA. On 15 they refuse `sslrootcert system` and say what to do instead.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { timescaleNodeUrl } from "../../scripts/stack/lifecycle.ts";
import { isRoot, run } from "../../scripts/stack/postgres.ts";
import { type KeyPair, makeCa, makeServerCertificate } from "../../scripts/stack/tls.ts";
import { env } from "../support/fixture.ts";
import { nodes, supabase } from "../support/nodes.ts";

const [supabaseMajor] =
  await supabase`select current_setting('server_version_num')::int / 10000 as v`;
const systemTrustWorks = supabaseMajor.v >= 16;
const password = env("BRIDGE_LINK_PASSWORD");
// Node 3 of the stack: the tests give it certificates of their own, then its own back.
const probeNode = nodes[2];
const probePort = Number(env("STACK_TIMESCALE_PORT")) + 2;
const defaultPort = Number(env("STACK_TIMESCALE_PORT"));

/** Deno.test, skipped where `ignore`, for tests holding database connections. */
function tlsTest(name: string, ignore: boolean, fn: (t: Deno.TestContext) => Promise<void>) {
  Deno.test({ name, ignore, fn, sanitizeOps: false, sanitizeResources: false });
}

/** Everything about the links the calls may touch: servers, their options, user mappings, nodes. */
async function links() {
  return JSON.stringify(
    await supabase`
      select s.srvname, s.srvoptions,
             (select array_agg(m.umoptions::text order by m.umuser) from pg_user_mapping m
               where m.umserver = s.oid) as mappings,
             (select array_agg(n.name order by n.name) from bridge.nodes n) as nodes
        from pg_foreign_server s order by s.srvname`,
  );
}

const attachCall = (host: string, port: number, sslmode = "verify-full") =>
  `select bridge.attach_node('tls_probe', '${host}', ${port}, 'postgres', 'bridge_reader',
     '${password}', '${sslmode}', slice_to => '2000-01-01', sslrootcert => 'system')`;
const configureCall = (host: string, port: number, sslmode = "verify-full") =>
  `select bridge.configure('${host}', ${port}, 'postgres', 'bridge_reader', '${password}',
     '${sslmode}', 'system')`;
/** What the stack links the default node with, as scripts/stack/lifecycle.ts does. */
const restoreDefault = () =>
  supabase.unsafe(
    `select bridge.configure('127.0.0.1', ${defaultPort}, 'postgres', 'bridge_reader',
       '${password}', 'require')`,
  );

/** Asserts `call` fails with `code` and a message and detail matching, and changes no link. */
async function refused(call: string, code: string, message: RegExp, detail?: RegExp) {
  const before = await links();
  await assert.rejects(supabase.unsafe(call), (error: postgres.PostgresError) => {
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    if (detail) assert.match(error.detail ?? "", detail);
    return true;
  });
  assert.equal(await links(), before);
}

/**
 * Runs `fn` while node 3 serves `pair` as its certificate, then serves its own again. A new
 * connection reads the new setting only once the postmaster has reloaded, so the test waits for
 * one that does.
 */
async function whileServing(pair: KeyPair, fn: () => Promise<void>) {
  const setting = async (cert: string) => {
    await probeNode.unsafe(`alter system set ssl_cert_file = '${cert}'`);
    await probeNode.unsafe(`alter system set ssl_key_file = '${cert.replace(/crt$/, "key")}'`);
    await probeNode`select pg_reload_conf()`;
    const url = timescaleNodeUrl(env("TIMESCALE_DB_URL"), probePort);
    for (let attempt = 0; attempt < 100; attempt++) {
      const fresh = postgres(url, { max: 1, prepare: false, onnotice: () => {} });
      const [{ ssl_cert_file: serving }] = await fresh`show ssl_cert_file`.finally(() =>
        fresh.end()
      );
      if (serving === cert) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`${url} did not take ${cert} within 10 s`);
  };
  const own = join(env("STACK_DIR"), "tls", "server.crt");
  await setting(pair.cert);
  try {
    await fn();
  } finally {
    await probeNode.unsafe("alter system reset ssl_cert_file");
    await probeNode.unsafe("alter system reset ssl_key_file");
    await setting(own);
  }
}

/** A directory the node's server may read, for certificates made by a test. */
async function certificateDir(): Promise<string> {
  const dir = Deno.makeTempDirSync({ dir: join(env("STACK_DIR"), "tls"), prefix: "test-" });
  if (isRoot) await run("chown", ["postgres:postgres", dir]);
  return dir;
}

async function readableByNode(...pairs: KeyPair[]) {
  if (isRoot) {
    await run("chown", ["postgres:postgres", ...pairs.flatMap((pair) => [pair.key, pair.cert])]);
  }
}

tlsTest(
  "a node whose certificate matches is linked with verify-full and sslrootcert system",
  !systemTrustWorks,
  async () => {
    await supabase.unsafe(attachCall("127.0.0.1", probePort));
    try {
      const [server] = await supabase`
      select srvoptions from pg_foreign_server where srvname = 'events_ts_tls_probe'`;
      assert.ok(server.srvoptions.includes("sslmode=verify-full"), server.srvoptions);
      assert.ok(server.srvoptions.includes("sslrootcert=system"), server.srvoptions);
      // The node holds no event before 2000: the scan reaches it and finds nothing.
      const [{ count }] = await supabase`
      select count(*)::int from bridge.events_at_tls_probe`;
      assert.equal(count, 0);
    } finally {
      await supabase`select bridge.detach_node('tls_probe')`;
    }
    await supabase.unsafe(configureCall("localhost", defaultPort));
    try {
      const [{ count }] = await supabase`select count(*)::int from bridge.events`;
      const [{ count: onNode }] = await nodes[0]`select count(*)::int from export.events`;
      assert.equal(count, onNode);
    } finally {
      await restoreDefault();
    }
  },
);

tlsTest(
  "a node whose certificate names another host, or comes from an unknown CA, is refused and nothing changes",
  !systemTrustWorks,
  async (t) => {
    const dir = await certificateDir();
    try {
      const stackCa = {
        key: join(env("STACK_DIR"), "tls", "ca.key"),
        cert: join(env("STACK_DIR"), "tls", "ca.crt"),
      };
      const otherName = await makeServerCertificate(
        dir,
        "other-name",
        stackCa,
        "DNS:other.example",
      );
      const unknownCa = await makeCa(dir, "unknown-ca");
      const fromUnknownCa = await makeServerCertificate(dir, "unknown-issuer", unknownCa);
      await readableByNode(otherName, fromUnknownCa);
      const notVerified =
        /^could not verify the node at host=127\.0\.0\.1 port=\d+ with sslmode=verify-full sslrootcert=system: nothing was changed$/;
      await t.step("another name", () =>
        whileServing(otherName, async () => {
          const mismatch = /does not match host name "127\.0\.0\.1"/;
          await refused(attachCall("127.0.0.1", probePort), "08001", notVerified, mismatch);
          await refused(configureCall("127.0.0.1", probePort), "08001", notVerified, mismatch);
        }));
      await t.step("an unknown CA", () =>
        whileServing(fromUnknownCa, async () => {
          const untrusted = /certificate verify failed/;
          await refused(attachCall("127.0.0.1", probePort), "08001", notVerified, untrusted);
          await refused(configureCall("127.0.0.1", probePort), "08001", notVerified, untrusted);
        }));
    } finally {
      Deno.removeSync(dir, { recursive: true });
      // Should a refusal fail to refuse, the next tests still find the stack's own links.
      await supabase`
        select bridge.detach_node(name) from bridge.nodes where name = 'tls_probe'`;
      await restoreDefault();
    }
  },
);

tlsTest(
  "sslrootcert system is refused on PostgreSQL 15, and nothing changes",
  systemTrustWorks,
  async () => {
    const needs16 =
      /^sslrootcert system needs PostgreSQL 16 or later on the Supabase side, and this is 15\.\S+.*: link with sslmode require, or upgrade the project to PostgreSQL 17$/;
    await refused(attachCall("127.0.0.1", probePort), "0A000", needs16);
    await refused(configureCall("127.0.0.1", defaultPort), "0A000", needs16);
  },
);

tlsTest("sslrootcert takes only system, with sslmode verify-full", false, async () => {
  await refused(
    configureCall("127.0.0.1", defaultPort).replace("'system'", "'/etc/ssl/certs/ca.pem'"),
    "22023",
    /^sslrootcert must be system \(the CAs the Supabase side trusts\) or null, got \/etc\/ssl\/certs\/ca\.pem$/,
  );
  if (systemTrustWorks) {
    await refused(
      attachCall("127.0.0.1", probePort, "require"),
      "22023",
      /^sslrootcert system needs sslmode verify-full, got require$/,
    );
  }
});
