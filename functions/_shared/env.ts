/**
 * The functions' configuration: environment variables with the names Supabase sets for Edge
 * Functions, validated once, on first use, with zod.
 */
import { z } from "zod";
import { BridgeError } from "./errors.ts";

const schema = z.object({
  /** The project's database; on the platform, Supavisor in transaction mode. */
  SUPABASE_DB_URL: z.string().regex(/^postgres(ql)?:\/\//, {
    error: "must be a postgres:// connection string",
  }),
  /** The project's legacy JWT secret: verifies HS256 tokens (the anon and service keys). */
  SUPABASE_JWT_SECRET: z.string().min(1).optional(),
  /** The project's URL: its JWKS verifies asymmetrically signed tokens. */
  SUPABASE_URL: z.url().optional(),
  /** Where the signing keys are published, when not at SUPABASE_URL's usual path. */
  SUPABASE_JWKS_URL: z.url().optional(),
});

/** The validated configuration. */
export interface Env {
  databaseUrl: string;
  jwtSecret?: string;
  jwksUrl?: URL;
}

let cached: Env | undefined;

/**
 * The configuration, read from Deno.env the first time it is asked for. A missing or malformed
 * variable is a 500 naming the variable (never its value), and is logged.
 *
 * @example
 * const { databaseUrl } = env();
 */
export function env(): Env {
  if (cached) return cached;
  const parsed = schema.safeParse(Deno.env.toObject());
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) =>
      `${issue.path.join(".")}: ${issue.message}`
    );
    console.error(`invalid configuration: ${problems.join("; ")}`);
    throw new BridgeError("internal", `the function is misconfigured (${problems.join("; ")})`);
  }
  const values = parsed.data;
  const jwks = values.SUPABASE_JWKS_URL ??
    (values.SUPABASE_URL &&
      `${values.SUPABASE_URL.replace(/\/$/, "")}/auth/v1/.well-known/jwks.json`);
  cached = {
    databaseUrl: values.SUPABASE_DB_URL,
    jwtSecret: values.SUPABASE_JWT_SECRET,
    jwksUrl: jwks ? new URL(jwks) : undefined,
  };
  return cached;
}
