/**
 * Who is calling: the caller's JWT (Authorization: Bearer) verified here, in the function, the
 * way Supabase's Auth signs them: HS256 with the project's JWT secret (the legacy anon and
 * service keys, and sessions of projects on the legacy secret), or an asymmetric key published
 * in the project's JWKS. The role claim becomes the database role the request runs as.
 */
import {
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  type JWTPayload,
  jwtVerify,
} from "jose";
import { BridgeError } from "./errors.ts";
import { env } from "./env.ts";

/** The database roles a request may run as; any other role is refused before the database. */
export type CallerRole = "authenticated" | "service_role";

const callerRoles: readonly string[] = ["authenticated", "service_role"] satisfies CallerRole[];

/** A verified caller: the role to run as and the claims to hand to the database. */
export interface Caller {
  role: CallerRole;
  claims: JWTPayload & { role: CallerRole };
}

/** Where the keys that sign callers' tokens come from. */
export interface KeySources {
  /** Verifies HS256 tokens. */
  jwtSecret?: string;
  /** Publishes the public keys of asymmetrically signed tokens (RS256, ES256, EdDSA). */
  jwksUrl?: URL;
}

/** Verifies a token's signature and time claims, returning its claims. */
export type Verifier = (token: string) => Promise<JWTPayload>;

const ASYMMETRIC = ["RS256", "ES256", "EdDSA"];

// jose's errors that mean "this token is not acceptable", as opposed to "the keys could not be
// fetched": the first kind is the caller's 401, the second our 503.
const tokenProblems = new Set([
  errors.JWTExpired.code,
  errors.JWTClaimValidationFailed.code,
  errors.JWTInvalid.code,
  errors.JWSInvalid.code,
  errors.JWSSignatureVerificationFailed.code,
  errors.JOSEAlgNotAllowed.code,
  errors.JWKSNoMatchingKey.code,
  errors.JWKSMultipleMatchingKeys.code,
]);

/**
 * A verifier for the given keys: HS256 tokens against the secret, any other algorithm against
 * the JWKS (fetched on first use and cached by jose). Failures are 401s, except an unreachable
 * JWKS, which is a 503.
 *
 * @example
 * const verify = createVerifier({ jwtSecret: "super-secret", jwksUrl: new URL(jwks) });
 * const claims = await verify(token);
 */
export function createVerifier(keys: KeySources): Verifier {
  const secret = keys.jwtSecret && new TextEncoder().encode(keys.jwtSecret);
  const jwks = keys.jwksUrl && createRemoteJWKSet(keys.jwksUrl);
  return async (token) => {
    let algorithm: string | undefined;
    try {
      algorithm = decodeProtectedHeader(token).alg;
    } catch {
      throw new BridgeError("unauthorized", "the bearer token is not a well-formed JWT");
    }
    try {
      if (algorithm === "HS256" && secret) {
        return (await jwtVerify(token, secret, { algorithms: ["HS256"] })).payload;
      }
      if (algorithm && ASYMMETRIC.includes(algorithm) && jwks) {
        return (await jwtVerify(token, jwks, { algorithms: ASYMMETRIC })).payload;
      }
    } catch (error) {
      throw tokenError(error);
    }
    throw new BridgeError(
      "unauthorized",
      `tokens signed with ${algorithm ?? "no algorithm"} are not accepted by this project`,
    );
  };
}

function tokenError(error: unknown): BridgeError {
  if (!(error instanceof errors.JOSEError) || !tokenProblems.has(error.code)) {
    console.error(`could not verify a token: ${error}`);
    return new BridgeError(
      "unavailable",
      "the project's signing keys could not be fetched to verify the token: try again shortly",
    );
  }
  if (error instanceof errors.JWTExpired) {
    return new BridgeError("unauthorized", "the token has expired: sign in again");
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return new BridgeError("unauthorized", "the token's signature does not verify");
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return new BridgeError("unauthorized", "the token is signed with a key this project lacks");
  }
  return new BridgeError("unauthorized", `the token is not valid: ${error.message}`);
}

let verifyFromEnv: Verifier | undefined;

/**
 * The verified caller of a request, allowed to act as one of `roles`. No token or a bad one is
 * a 401; a valid token for another role (the anon key, or a user calling a service-role
 * function) is a 403.
 *
 * @example
 * const caller = await authorize(request, ["authenticated", "service_role"]);
 */
export async function authorize(
  request: Request,
  roles: readonly CallerRole[],
  verify: Verifier = verifyFromEnv ??= createVerifier(env()),
): Promise<Caller> {
  const header = request.headers.get("authorization");
  const token = header?.match(/^Bearer +(\S+)$/i)?.[1];
  if (!token) {
    throw new BridgeError(
      "unauthorized",
      header
        ? "the Authorization header must be `Bearer <token>`"
        : "missing Authorization header: send `Authorization: Bearer <token>`",
    );
  }
  const claims = await verify(token);
  const role = claims.role;
  if (typeof role !== "string") {
    throw new BridgeError("unauthorized", "the token has no role claim");
  }
  if (!callerRoles.includes(role) || !roles.includes(role as CallerRole)) {
    throw new BridgeError(
      "forbidden",
      role === "anon"
        ? "the anon key cannot call this function: sign in and send the session's access token"
        : `role ${JSON.stringify(role)} cannot call this function: it needs ${roles.join(" or ")}`,
    );
  }
  return { role: role as CallerRole, claims: { ...claims, role: role as CallerRole } };
}
