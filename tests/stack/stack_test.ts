/**
 * The local stack itself, on a stack of its own (own directory and ports): lifecycle, the
 * Supabase platform stand-in, migrations recorded by the CLI, and seed determinism.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import postgres from "postgres";
import { repoRoot, type StackConfig, supabasePgVersion } from "../../scripts/stack/config.ts";
import { importJWK, jwtVerify } from "jose";
import { signSession } from "../../scripts/stack/auth.ts";
import { envFile, hostedFunctionEnvNames, readEnvFile } from "../../scripts/stack/env.ts";
import { stackDown, stackStatus, stackUp } from "../../scripts/stack/lifecycle.ts";
import { dbTest, env as requiredEnv } from "../support/fixture.ts";

/** Made when the test runs (not when the file is loaded), removed when it ends. */
let config: StackConfig;

/** Postgres processes whose command line names this stack's directory. */
async function stackProcesses(): Promise<string[]> {
  const { stdout } = await new Deno.Command("pgrep", { args: ["-af", config.dir] }).output();
  return new TextDecoder().decode(stdout).split("\n").filter((line) => line.includes("postgres"));
}

const quietly = async <T>(fn: () => Promise<T>) => {
  const write = console.log;
  console.log = () => {};
  try {
    return await fn();
  } finally {
    console.log = write;
  }
};

async function seed(seedValue: number) {
  const env = readEnvFile(envFile(config));
  const { code, stderr } = await new Deno.Command(join(repoRoot, "node_modules/.bin/deno"), {
    args: [
      "run",
      "-A",
      "scripts/seed.ts",
      "--events",
      "300",
      "--activity",
      "2000",
      "--missions",
      "100",
      "--seed",
      String(seedValue),
      "--until",
      "2026-06-01T00:00:00Z",
    ],
    cwd: repoRoot,
    env: { SUPABASE_DB_URL: env.SUPABASE_DB_URL, TIMESCALE_DB_URL: env.TIMESCALE_DB_URL },
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}

/** A digest of every seeded row on both nodes. */
async function digest(): Promise<string[]> {
  const env = readEnvFile(envFile(config));
  const timescale = postgres(env.TIMESCALE_DB_URL, { max: 1, onnotice: () => {} });
  const supabase = postgres(env.SUPABASE_DB_URL, { max: 1, onnotice: () => {} });
  try {
    const [events] = await timescale`
      select md5(string_agg(e::text, '|' order by e::text)) as d from public.events e`;
    const [activity] = await timescale`
      select md5(string_agg(a::text, '|' order by a::text)) as d from public.activity_log a`;
    const [missions] = await supabase`
      select md5(string_agg(m::text, '|' order by m.id)) as d from public.missions m`;
    return [events.d, activity.d, missions.d];
  } finally {
    await Promise.all([timescale.end(), supabase.end()]);
  }
}

/**
 * The env file holds what a hosted project gives its functions: one default `sb_publishable_`
 * and `sb_secret_` key, a JWKS with the public half of an ES256 signing key with a `kid`, and
 * the legacy anon and service_role JWTs signed with the legacy secret.
 */
async function assertHostedKeyMaterial(env: Record<string, string>) {
  for (const name of hostedFunctionEnvNames) assert.ok(env[name], `${name} is in the env file`);
  assert.match(JSON.parse(env.SUPABASE_PUBLISHABLE_KEYS).default, /^sb_publishable_[\w-]{20,}$/);
  assert.match(JSON.parse(env.SUPABASE_SECRET_KEYS).default, /^sb_secret_[\w-]{20,}$/);
  const signingKey = JSON.parse(env.JWT_SIGNING_KEY);
  const { keys } = JSON.parse(env.SUPABASE_JWKS);
  assert.equal(keys.length, 1);
  assert.deepEqual(
    { kid: keys[0].kid, alg: keys[0].alg, kty: keys[0].kty, crv: keys[0].crv, d: keys[0].d },
    { kid: signingKey.kid, alg: "ES256", kty: "EC", crv: "P-256", d: undefined },
  );
  const verifyKey = await importJWK(keys[0], "ES256");
  const session = await signSession(
    signingKey,
    env.SUPABASE_URL,
    "00000000-0000-4000-8000-000000000001",
  );
  assert.equal((await jwtVerify(session, verifyKey)).protectedHeader.kid, signingKey.kid);
  const legacySecret = new TextEncoder().encode(env.SUPABASE_JWT_SECRET);
  for (
    const [name, role] of [["SUPABASE_ANON_KEY", "anon"], [
      "SUPABASE_SERVICE_ROLE_KEY",
      "service_role",
    ]]
  ) {
    const { payload, protectedHeader } = await jwtVerify(env[name], legacySecret);
    assert.deepEqual([protectedHeader.alg, payload.role], ["HS256", role], name);
  }
}

dbTest("stack: up, up again, status, seed, down leaves no process", async () => {
  const root = Deno.makeTempDirSync({ prefix: "fdw-bridge-lifecycle-" });
  Deno.chmodSync(root, 0o755);
  config = {
    dir: join(root, "stack"),
    // A thousand above the test stack's own ports, so parallel suites stay apart.
    supabasePort: Number(requiredEnv("STACK_SUPABASE_PORT")) + 1000,
    timescalePort: Number(requiredEnv("STACK_TIMESCALE_PORT")) + 1000,
    functionsPort: Number(requiredEnv("STACK_FUNCTIONS_PORT")) + 1000,
    supabasePg: supabasePgVersion(requiredEnv("STACK_SUPABASE_PG")),
  };
  try {
    await stackUp(config);
    assert.equal(await quietly(() => stackStatus(config)), true, "both nodes answer after up");
    const envBefore = Deno.readTextFileSync(envFile(config));
    await stackUp(config);
    assert.equal(Deno.readTextFileSync(envFile(config)), envBefore, "a second up changes nothing");

    const env = readEnvFile(envFile(config));
    await assertHostedKeyMaterial(env);
    const supabase = postgres(env.SUPABASE_DB_URL, { max: 1, onnotice: () => {} });
    try {
      const roles = await supabase`
        select rolname, rolbypassrls from pg_roles
         where rolname in ('anon', 'authenticated', 'service_role', 'authenticator')
         order by rolname`;
      const [{ major }] = await supabase`
        select current_setting('server_version_num')::int / 10000 as major`;
      assert.equal(major, config.supabasePg, "the Supabase side runs the version asked");
      assert.deepEqual(roles.map((r) => `${r.rolname}:${r.rolbypassrls}`), [
        "anon:false",
        "authenticated:false",
        "authenticator:false",
        "service_role:true",
      ]);
      const [uid] = await supabase.begin(async (tx) => {
        await tx`select set_config('request.jwt.claims', '{"sub":"00000000-0000-4000-8000-000000000007","role":"authenticated"}', true)`;
        return tx`select auth.uid()::text as uid, auth.role() as role, auth.jwt() ->> 'sub' as sub`;
      });
      assert.deepEqual({ ...uid }, {
        uid: "00000000-0000-4000-8000-000000000007",
        role: "authenticated",
        sub: "00000000-0000-4000-8000-000000000007",
      });
      const recorded = await supabase`
        select version from supabase_migrations.schema_migrations order by version`;
      const files = [...Deno.readDirSync(join(repoRoot, "supabase", "migrations"))]
        .map((entry) => entry.name.split("_")[0]).sort();
      assert.deepEqual(recorded.map((row) => row.version), files);
    } finally {
      await supabase.end();
    }

    await seed(7);
    const first = await digest();
    await seed(7);
    assert.deepEqual(await digest(), first, "the same seed loads the same rows");
    await seed(8);
    const other = await digest();
    first.forEach((d, i) =>
      assert.notEqual(other[i], d, `seed 8 differs from seed 7 (table ${i})`)
    );

    const made = config.supabasePg!, asked = made === 17 ? 15 : 17;
    await assert.rejects(
      stackUp({ ...config, supabasePg: asked }),
      new RegExp(
        `the supabase node in \\S+ runs PostgreSQL ${made}, not ${asked} as asked: start it ` +
          `with --supabase-pg ${made}, or remake it on ${asked} with npm run stack:reset`,
      ),
    );
    assert.deepEqual(await digest(), other, "a stack-up on the other version changes nothing");
  } finally {
    await stackDown(config);
  }
  try {
    assert.equal(await quietly(() => stackStatus(config)), false, "status fails once down");
    assert.deepEqual(await stackProcesses(), [], "no postgres process is left");
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
