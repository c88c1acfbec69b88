/**
 * The stack's stand-in for a hosted project's credentials, made and signed the way Supabase
 * makes them: an ES256 signing key with a `kid` (its public half is the project's JWKS),
 * `sb_publishable_…` and `sb_secret_…` API keys, sessions, and the legacy HS256 JWTs.
 */
import { Buffer } from "node:buffer";
import { exportJWK, generateKeyPair, importJWK, type JWK, SignJWT } from "jose";

export async function createSigningKey(): Promise<JWK> {
  const { privateKey } = await generateKeyPair("ES256", { extractable: true });
  return { ...await exportJWK(privateKey), kid: crypto.randomUUID(), alg: "ES256", use: "sig" };
}

export function createApiKey(kind: "publishable" | "secret"): string {
  const bytes = crypto.getRandomValues(new Uint8Array(24));
  return `sb_${kind}_${Buffer.from(bytes).toString("base64url")}`;
}

/** Claims over the defaults, and a lifetime in seconds (negative: expired). */
export interface SignOptions {
  claims?: Record<string, unknown>;
  expiresIn?: number;
}

/**
 * A signed-in user's access token as Supabase Auth issues it on a project with signing keys.
 *
 * @example
 * const token = await signSession(signingKey, env.SUPABASE_URL, userId);
 */
export async function signSession(
  signingKey: JWK,
  supabaseUrl: string,
  userId: string,
  { claims = {}, expiresIn = 3600 }: SignOptions = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return await new SignJWT({
    iss: `${supabaseUrl.replace(/\/+$/, "")}/auth/v1`,
    sub: userId,
    aud: "authenticated",
    role: "authenticated",
    aal: "aal1",
    session_id: crypto.randomUUID(),
    is_anonymous: false,
    iat: now,
    exp: now + expiresIn,
    ...claims,
  })
    .setProtectedHeader({ alg: "ES256", kid: signingKey.kid, typ: "JWT" })
    .sign(await importJWK(signingKey, "ES256"));
}

/**
 * A JWT signed with a project's legacy HS256 secret, with no `kid` as Supabase issued them: the
 * legacy anon and service_role keys (`{ role }`, for ten years) or a legacy session.
 */
export function signLegacyJwt(
  secret: string,
  { claims = {}, expiresIn = 10 * 365 * 24 * 3600 }: SignOptions = {},
): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ iss: "supabase", iat: now, exp: now + expiresIn, ...claims })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .sign(new TextEncoder().encode(secret));
}
