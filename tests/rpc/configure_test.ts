/**
 * Setting up the link: `bridge.configure` refuses what would leave it unencrypted, unreachable or
 * without credentials, with the messages docs/operations.md lists, and changes nothing when it
 * refuses; sql/timescale/03_bridge_reader.sql stops with an error when the link password is not
 * passed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { repoRoot } from "../../scripts/stack/config.ts";
import { pgBin } from "../../scripts/stack/postgres.ts";
import { asCaller, connect, dbTest, env } from "../support/fixture.ts";

const supabase = connect("supabase");
const timescale = connect("timescale");

/** The server's options and the user mappings of the link, as the catalog holds them. */
async function linkSettings() {
  const [server] = await supabase`
    select srvoptions from pg_foreign_server where srvname = 'events_ts'`;
  const mappings = await supabase`
    select umuser::regrole::text as role, umoptions from pg_user_mapping m
      join pg_foreign_server s on s.oid = m.umserver
     where s.srvname = 'events_ts' order by 1`;
  return { server: server.srvoptions, mappings };
}

const refusals: [string, string, string][] = [
  [
    "sslmode disable",
    "'ts.example.com', 5432, 'postgres', 'bridge_reader', 'pw', 'disable'",
    "sslmode must be require, verify-ca or verify-full (the link is always encrypted), got disable",
  ],
  [
    "sslmode prefer",
    "'ts.example.com', 5432, 'postgres', 'bridge_reader', 'pw', 'prefer'",
    "sslmode must be require, verify-ca or verify-full (the link is always encrypted), got prefer",
  ],
  [
    "port 0",
    "'ts.example.com', 0, 'postgres', 'bridge_reader', 'pw'",
    "port must be between 1 and 65535, got 0",
  ],
  [
    "port 65536",
    "'ts.example.com', 65536, 'postgres', 'bridge_reader', 'pw'",
    "port must be between 1 and 65535, got 65536",
  ],
  [
    "no port",
    "'ts.example.com', null, 'postgres', 'bridge_reader', 'pw'",
    "port must be between 1 and 65535, got null",
  ],
  [
    "an empty host",
    "'', 5432, 'postgres', 'bridge_reader', 'pw'",
    "host must be a host name or address",
  ],
  [
    "an empty password",
    "'ts.example.com', 5432, 'postgres', 'bridge_reader', ''",
    "dbname, username and password must not be empty",
  ],
  [
    "an empty user name",
    "'ts.example.com', 5432, 'postgres', '', 'pw'",
    "dbname, username and password must not be empty",
  ],
  [
    "no password",
    "'ts.example.com', 5432, 'postgres', 'bridge_reader', null",
    "dbname, username and password must not be empty",
  ],
  [
    "an empty database name",
    "'ts.example.com', 5432, '', 'bridge_reader', 'pw'",
    "dbname, username and password must not be empty",
  ],
];

for (const [what, args, message] of refusals) {
  dbTest(`bridge.configure refuses ${what} and changes nothing`, async () => {
    const before = await linkSettings();
    await assert.rejects(
      asCaller(
        supabase,
        { role: "service_role" },
        (tx) => tx.unsafe(`select bridge.configure(${args})`),
      ),
      (error: { code?: string; message?: string }) => {
        assert.equal(error.code, "22023");
        assert.equal(error.message, message);
        return true;
      },
    );
    assert.deepEqual(await linkSettings(), before);
  });
}

dbTest(
  "03_bridge_reader.sql without the password variable fails and says how to pass it",
  async () => {
    const [before] = await timescale`
    select a.rolpassword, r.rolconfig from pg_authid a join pg_roles r using (oid)
     where a.rolname = 'bridge_reader'`;
    // As an operator might run it: no -v bridge_password, and no ON_ERROR_STOP either.
    const { code, stdout, stderr } = await new Deno.Command(join(pgBin(), "psql"), {
      args: [
        env("TIMESCALE_DB_URL"),
        "-X",
        "-f",
        join(repoRoot, "sql", "timescale", "03_bridge_reader.sql"),
      ],
    }).output();
    const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
    assert.notEqual(code, 0, output);
    assert.match(output, /bridge_password is not set/);
    assert.match(output, /-v bridge_password="\$BRIDGE_PASSWORD"/);
    const [after] = await timescale`
    select a.rolpassword, r.rolconfig from pg_authid a join pg_roles r using (oid)
     where a.rolname = 'bridge_reader'`;
    assert.deepEqual(after, before);
  },
);
