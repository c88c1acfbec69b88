/**
 * Who is calling, decided by @supabase/server by the platform's own rules: a session signed
 * with one of the project's JWT signing keys (SUPABASE_JWKS, `aud` authenticated, `iss` the
 * project) runs as `authenticated` with its claims; any of the project's secret keys in `apikey`
 * runs as `service_role`; a publishable key alone is refused until the user signs in.
 *
 * @supabase/server refuses legacy HS256 tokens, so the one thing wrapped here is the documented
 * opt-in for projects still on the legacy JWT secret (env.ts, BRIDGE_LEGACY_JWT_SECRET).
 */
import { verifyAuth } from "@supabase/server/core";
import { decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from "jose";
import { BridgeError } from "./errors.ts";
import { type Env, env } from "./env.ts";

/** The database roles a request may run as; any other role is refused before the database. */
export type CallerRole = "authenticated" | "service_role";

const callerRoles: readonly string[] = ["authenticated", "service_role"] satisfies CallerRole[];

/** A verified caller: the role to run as and the claims to hand to the database. */
export interface Caller {
  role: CallerRole;
  claims: JWTPayload & { role: CallerRole };
}

const signIn = "sign in and send the session's access token as `Authorization: Bearer <token>`";

/**
 * The verified caller of a request, allowed to act as one of `roles`. No credential or a bad
 * one is a 401; a publishable (or legacy anon) key alone, or a valid caller of another role, is
 * a 403.
 *
 * @example
 * const caller = await authorize(request, ["authenticated", "service_role"]);
 */
export async function authorize(request: Request, roles: readonly CallerRole[]): Promise<Caller> {
  const config = env();
  const token = request.headers.get("authorization")?.match(/^Bearer (\S+)$/)?.[1];
  const claims = config.legacyJwtSecret && token && isHs256(token)
    ? await verifyLegacy(token, config.legacyJwtSecret, config)
    : await verifyWithSupabase(request, config);
  const role = claims.role;
  if (role === "anon") {
    throw new BridgeError("forbidden", `an API key alone cannot call this function: ${signIn}`);
  }
  if (
    typeof role !== "string" || !callerRoles.includes(role) || !roles.includes(role as CallerRole)
  ) {
    throw new BridgeError(
      "forbidden",
      `role ${JSON.stringify(role)} cannot call this function: it needs ${roles.join(" or ")}`,
    );
  }
  return { role: role as CallerRole, claims: { ...claims, role: role as CallerRole } };
}

/** A session's claims; a secret key as `{ role: "service_role" }`; a publishable key as anon. */
async function verifyWithSupabase(request: Request, config: Env): Promise<JWTPayload> {
  const { data, error } = await verifyAuth(request, {
    auth: ["user", "secret:*", "publishable:*"],
    audience: "authenticated",
    issuer: config.issuer,
    env: config.project,
  });
  if (error) {
    const message = error.message.replace(/^\[@supabase\/server\] /, "");
    const details = { reason: error.code, hint: error.hint };
    if (error.status === 401) throw new BridgeError("unauthorized", message, details);
    console.error(`could not verify a caller: ${error.code}: ${message}`);
    throw error.code === "JWKS_FETCH_FAILED"
      ? new BridgeError("unavailable", "the project's signing keys could not be read: try again")
      : new BridgeError(
        "internal",
        "the function cannot verify callers: its keys are misconfigured",
      );
  }
  if (data.authMode === "user") return data.jwtClaims as JWTPayload;
  return { role: data.authMode === "secret" ? "service_role" : "anon" };
}

function isHs256(token: string): boolean {
  try {
    return decodeProtectedHeader(token).alg === "HS256";
  } catch {
    return false;
  }
}

/**
 * A token signed with the legacy JWT secret: the legacy anon or service_role key, or a session,
 * which must carry the same `aud` and `iss` as one signed with the new keys.
 */
async function verifyLegacy(token: string, secret: string, config: Env): Promise<JWTPayload> {
  let claims: JWTPayload;
  try {
    claims = (await jwtVerify(token, new TextEncoder().encode(secret), { algorithms: ["HS256"] }))
      .payload;
  } catch (error) {
    const expired = error instanceof errors.JWTExpired;
    throw new BridgeError(
      "unauthorized",
      expired ? "the token has expired: sign in again" : "the token is not valid for this project",
    );
  }
  if (
    claims.role === "authenticated" &&
    (claims.aud !== "authenticated" || claims.iss !== config.issuer)
  ) {
    throw new BridgeError(
      "unauthorized",
      `a session must have aud "authenticated" and iss "${config.issuer}"`,
    );
  }
  return claims;
}
