/**
 * Who may call: every kind of Authorization over HTTP against the served functions, tokens
 * signed with asymmetric keys from a JWKS (in process, against a JWKS served by the test), and
 * the CORS preflight.
 */
import assert from "node:assert/strict";
import { exportJWK, generateKeyPair, SignJWT } from "jose";
import { authorize, createVerifier } from "../functions/_shared/auth.ts";
import { BridgeError } from "../functions/_shared/errors.ts";
import { env } from "./fixture.ts";
import {
  clientWith,
  embedding,
  errorOf,
  invoke,
  seedUserId,
  signToken,
  userToken,
} from "./functions_fixture.ts";

const base64url = (value: object) =>
  btoa(JSON.stringify(value)).replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
const unsigned = `${base64url({ alg: "none", typ: "JWT" })}.${
  base64url({ role: "service_role" })
}.`;

/** Each kind of Authorization, and the status and message a search with it must get. */
const callers: [string, () => Promise<string | null>, number, RegExp?][] = [
  ["no token", () => Promise.resolve(null), 401, /^missing Authorization header/],
  ["a token that is not a JWT", () => Promise.resolve("not-a-jwt"), 401, /not a well-formed JWT/],
  [
    "an expired token",
    () => signToken({ role: "authenticated", sub: seedUserId(1) }, { expiresIn: -60 }),
    401,
    /has expired/,
  ],
  [
    "a token signed with another secret",
    () => signToken({ role: "service_role" }, { secret: "x".repeat(40) }),
    401,
    /signature does not verify/,
  ],
  [
    "an unsigned token (alg none)",
    () => Promise.resolve(unsigned),
    401,
    /signed with none are not accepted/,
  ],
  ["a token without a role", () => signToken({ sub: seedUserId(1) }), 401, /no role claim/],
  ["the anon key", () => Promise.resolve(env("SUPABASE_ANON_KEY")), 403, /anon key cannot call/],
  [
    "a validly signed token for role postgres",
    () => signToken({ role: "postgres" }),
    403,
    /role "postgres" cannot call/,
  ],
  ["a signed-in user", () => userToken(1), 200],
  ["the service role key", () => Promise.resolve(env("SUPABASE_SERVICE_ROLE_KEY")), 200],
];

Deno.test("each kind of caller gets its documented answer", async (t) => {
  for (const [who, token, status, message] of callers) {
    await t.step(`${who}: ${status}`, async () => {
      const answer = await invoke(clientWith(await token()), "events-search", {
        body: { embedding: embedding(2), k: 2 },
      });
      assert.equal(answer.status, status, JSON.stringify(answer.body));
      if (message) assert.match(errorOf(answer).message, message);
    });
  }
});

Deno.test("a malformed Authorization header is a 401", async () => {
  const answer = await invoke(clientWith(await userToken(1)), "event-histogram", {
    headers: { Authorization: `Basic ${btoa("user:password")}` },
    body: { bucket: "1 hour", from: "2026-10-01T00:00:00Z", to: "2026-10-02T00:00:00Z" },
  });
  assert.equal(answer.status, 401);
  assert.match(errorOf(answer).message, /must be `Bearer <token>`/);
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

Deno.test({
  name: "tokens signed with a key from the project's JWKS are verified",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { privateKey, publicKey } = await generateKeyPair("ES256");
    const other = await generateKeyPair("ES256");
    const jwks = { keys: [{ ...await exportJWK(publicKey), kid: "key-1", alg: "ES256" }] };
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => Response.json(jwks),
    );
    const verify = createVerifier({
      jwtSecret: env("SUPABASE_JWT_SECRET"),
      jwksUrl: new URL(`http://127.0.0.1:${server.addr.port}/auth/v1/.well-known/jwks.json`),
    });
    const sign = (key: CryptoKey, kid: string) =>
      new SignJWT({ role: "authenticated", sub: seedUserId(3) })
        .setProtectedHeader({ alg: "ES256", kid })
        .setExpirationTime("5m")
        .sign(key);
    const request = (token: string) =>
      new Request("http://function/", { headers: { Authorization: `Bearer ${token}` } });
    const rejection = (code: string, message: RegExp) => (error: unknown) =>
      error instanceof BridgeError && error.code === code && message.test(error.message);
    try {
      const caller = await authorize(
        request(await sign(privateKey, "key-1")),
        ["authenticated"],
        verify,
      );
      assert.equal(caller.role, "authenticated");
      assert.equal(caller.claims.sub, seedUserId(3));
      // HS256 tokens still verify against the secret.
      await authorize(request(await userToken(3)), ["authenticated"], verify);

      await assert.rejects(
        verify(await sign(other.privateKey, "key-1")),
        rejection("unauthorized", /signature does not verify/),
      );
      await assert.rejects(
        verify(await sign(other.privateKey, "key-2")),
        rejection("unauthorized", /key this project lacks/),
      );
      const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
      closed.close();
      const unreachable = createVerifier({
        jwksUrl: new URL(`http://127.0.0.1:${(closed.addr as Deno.NetAddr).port}/jwks.json`),
      });
      await assert.rejects(
        unreachable(await sign(privateKey, "key-1")),
        rejection("unavailable", /signing keys could not be fetched/),
      );
    } finally {
      await server.shutdown();
    }
  },
});
