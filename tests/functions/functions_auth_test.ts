/**
 * Who may call: every row of the caller table, over HTTP, against every served function, with
 * the credentials a hosted project has (sessions signed with its JWT signing key, secret and
 * publishable keys in `apikey`); then the legacy opt-in, on a gateway of its own that has
 * BRIDGE_LEGACY_JWT_SECRET set; the key set the stack publishes; and the CORS preflight.
 */
import assert from "node:assert/strict";
import { createSigningKey, signLegacyJwt, signSession } from "../../scripts/stack/auth.ts";
import { LEGACY_JWT_SECRET } from "../../functions/_shared/env.ts";
import { env } from "../support/fixture.ts";
import {
  embedding,
  errorOf,
  publishableKey,
  secretKey,
  seedUserId,
  spareTestPort,
  startGateway,
  userToken,
} from "../support/functions.ts";

/** Each function and a request it answers with 200 for an allowed caller. */
const functions: [name: string, init: RequestInit][] = [
  ["events-search", { method: "POST", body: JSON.stringify({ embedding: embedding(2), k: 2 }) }],
  ["mission-activity", { method: "POST", body: JSON.stringify({ missionIds: [10001], limit: 5 }) }],
  ["event-histogram", {
    method: "POST",
    body: JSON.stringify({
      bucket: "1 day",
      from: "2026-10-01T00:00:00Z",
      to: "2026-10-03T00:00:00Z",
    }),
  }],
  ["bridge-health", { method: "GET" }],
];

/** What a row expects: a status and, for an error, what its message says. */
type Expected = [status: number, message?: RegExp];

/** A user session is enough for every function but bridge-health, which needs service_role. */
const asUser = (name: string): Expected =>
  name === "bridge-health" ? [403, /needs service_role/] : [200];

type Row = [who: string, headers: () => Promise<HeadersInit>, expect: (name: string) => Expected];

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const withKey = (key: string, token = key) => ({ apikey: key, ...bearer(token) });
const userId = seedUserId(1);
const legacySecret = () => env("SUPABASE_JWT_SECRET");
const legacySession = (secret = legacySecret()) =>
  signLegacyJwt(secret, {
    claims: {
      sub: userId,
      role: "authenticated",
      aud: "authenticated",
      iss: `${env("SUPABASE_URL")}/auth/v1`,
    },
    expiresIn: 3600,
  });
const otherKey = await createSigningKey();
const keyWithoutKid = { ...await createSigningKey(), kid: undefined as unknown as string };

/** The rows that hold on every project, with or without the legacy opt-in. */
const commonRows: Row[] = [
  ["a user session", async () => withKey(publishableKey(), await userToken(1)), asUser],
  ["a secret key in apikey", () => Promise.resolve({ apikey: secretKey() }), () => [200]],
  [
    "the secret key as supabase-js sends it (apikey and Authorization)",
    () => Promise.resolve(withKey(secretKey())),
    () => [200],
  ],
  [
    "the publishable key alone",
    () => Promise.resolve(withKey(publishableKey())),
    () => [403, /sign in/],
  ],
  ["no credential", () => Promise.resolve({}), () => [401, /No credentials/]],
  ["a bearer token that is not a JWT", () => Promise.resolve(bearer("not-a-jwt")), () => [401]],
  [
    "a Basic Authorization header",
    () => Promise.resolve({ Authorization: `Basic ${btoa("user:password")}` }),
    () => [401, /Basic/],
  ],
  [
    "an expired session",
    async () => bearer(await userToken(1, { expiresIn: -60 })),
    () => [401, /expired/],
  ],
  [
    "a session signed with a key the project lacks (unknown kid)",
    async () => bearer(await signSession(otherKey, env("SUPABASE_URL"), userId)),
    () => [401, /kid/],
  ],
  [
    "a session signed with another key under the project's kid",
    async () => {
      const forged = { ...otherKey, kid: JSON.parse(env("JWT_SIGNING_KEY")).kid };
      return bearer(await signSession(forged, env("SUPABASE_URL"), userId));
    },
    () => [401, /signature/],
  ],
  [
    "a session without a kid",
    async () => bearer(await signSession(keyWithoutKid, env("SUPABASE_URL"), userId)),
    () => [401, /kid/],
  ],
  [
    "a session issued by another project (iss)",
    async () =>
      bearer(await userToken(1, { claims: { iss: "https://other.supabase.co/auth/v1" } })),
    () => [401, /iss/],
  ],
  [
    "a session for another audience (aud)",
    async () => bearer(await userToken(1, { claims: { aud: "anon" } })),
    () => [401, /aud/],
  ],
  [
    "an unknown secret key",
    () => Promise.resolve({ apikey: "sb_secret_" + "x".repeat(32) }),
    () => [401],
  ],
  [
    "an unknown publishable key",
    () => Promise.resolve({ apikey: "sb_publishable_" + "x".repeat(32) }),
    () => [401],
  ],
];

/** Without the opt-in, nothing signed with the legacy secret is accepted. */
const legacyRefused: Row[] = [
  ["a legacy HS256 session", async () => bearer(await legacySession()), () => [401, /kid/]],
  [
    "the legacy service_role key",
    () => Promise.resolve(withKey(env("SUPABASE_SERVICE_ROLE_KEY"))),
    () => [401],
  ],
  ["the legacy anon key", () => Promise.resolve(withKey(env("SUPABASE_ANON_KEY"))), () => [401]],
];

/** With the opt-in, the legacy credentials count as on a project still on the legacy secret. */
const legacyAccepted: Row[] = [
  ["a legacy HS256 session", async () => bearer(await legacySession()), asUser],
  [
    "the legacy service_role key",
    () => Promise.resolve(withKey(env("SUPABASE_SERVICE_ROLE_KEY"))),
    () => [200],
  ],
  [
    "the legacy anon key",
    () => Promise.resolve(withKey(env("SUPABASE_ANON_KEY"))),
    () => [403, /sign in/],
  ],
  [
    "a legacy session signed with another secret",
    async () => bearer(await legacySession("y".repeat(40))),
    () => [401, /not valid/],
  ],
  [
    "an expired legacy session",
    async () =>
      bearer(
        await signLegacyJwt(legacySecret(), { claims: { role: "service_role" }, expiresIn: -60 }),
      ),
    () => [401, /expired/],
  ],
  [
    "a legacy session issued by another project",
    async () =>
      bearer(
        await signLegacyJwt(legacySecret(), {
          claims: { sub: userId, role: "authenticated", aud: "authenticated", iss: "supabase" },
        }),
      ),
    () => [401, /iss/],
  ],
];

async function checkTable(t: Deno.TestContext, url: string, rows: Row[]) {
  for (const [who, headers, expect] of rows) {
    for (const [name, init] of functions) {
      const [status, message] = expect(name);
      await t.step(`${who} → ${name}: ${status}`, async () => {
        const response = await fetch(`${url}/functions/v1/${name}`, {
          ...init,
          headers: { "Content-Type": "application/json", ...await headers() },
        });
        const body = await response.json();
        assert.equal(response.status, status, JSON.stringify(body));
        if (status !== 200) {
          const error = errorOf({ status, body, headers: response.headers });
          assert.equal(Object.keys(body).join(), "error");
          if (message) assert.match(error.message, message);
        }
      });
    }
  }
}

Deno.test("each caller gets its documented answer from every function", async (t) => {
  await checkTable(t, env("SUPABASE_URL"), [...commonRows, ...legacyRefused]);
});

Deno.test({
  name: "with the legacy opt-in, legacy sessions and keys are accepted by every function",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const gateway = await startGateway(spareTestPort(1), {
      [LEGACY_JWT_SECRET]: env("SUPABASE_JWT_SECRET"),
    });
    try {
      await checkTable(t, gateway.url, [...commonRows, ...legacyAccepted]);
    } finally {
      await gateway.stop();
    }
  },
});

Deno.test("the stack publishes the project's key set at SUPABASE_URL", async () => {
  const response = await fetch(`${env("SUPABASE_URL")}/auth/v1/.well-known/jwks.json`);
  assert.equal(response.status, 200);
  assert.deepEqual(await response.json(), JSON.parse(env("SUPABASE_JWKS")));
});

Deno.test("the CORS preflight answers as in Supabase's examples", async () => {
  const response = await fetch(`${env("SUPABASE_URL")}/functions/v1/mission-activity`, {
    method: "OPTIONS",
    headers: {
      Origin: "https://app.example",
      "Access-Control-Request-Method": "POST",
      "Access-Control-Request-Headers": "authorization, x-client-info, apikey, content-type",
    },
  });
  await response.body?.cancel();
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("access-control-allow-origin"), "*");
  const allowed = response.headers.get("access-control-allow-headers") ?? "";
  for (const header of ["authorization", "x-client-info", "apikey", "content-type"]) {
    assert.ok(allowed.includes(header), `${header} is not allowed`);
  }
});
