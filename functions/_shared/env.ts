/**
 * The functions' configuration: the environment a hosted project gives its Edge Functions
 * (SUPABASE_URL, SUPABASE_DB_URL, the API keys by name, the JWKS), plus the one secret of ours
 * an operator may set, validated once, on first use, with zod. Nothing else is read.
 */
import { z } from "zod";
import { BridgeError } from "./errors.ts";

/**
 * The opt-in for a project still on the legacy JWT secret: set with
 * `supabase secrets set BRIDGE_LEGACY_JWT_SECRET=<the project's legacy JWT secret>`, it makes
 * HS256 sessions and the legacy anon and service_role keys acceptable again.
 */
export const LEGACY_JWT_SECRET = "BRIDGE_LEGACY_JWT_SECRET";

/** A variable holding JSON, parsed, then checked by `schema`. */
const json = <Schema extends z.ZodType>(schema: Schema) =>
  z.string().transform((text, context) => {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      context.addIssue({ code: "custom", message: "must be JSON" });
      return z.NEVER;
    }
  }).pipe(schema);

/** A JSON Web Key Set; the platform may give it as `{ "keys": [...] }` or as the bare array. */
const jwk = z.looseObject({ kty: z.string() });
const keySet = z.union([
  z.object({ keys: z.array(jwk) }),
  z.array(jwk).transform((keys) => ({ keys })),
]);

/** API keys by name, each with its kind's prefix. */
const keysByName = (prefix: string) =>
  json(z.record(z.string(), z.string().startsWith(prefix, { error: `must start ${prefix}` })));

const schema = z.object({
  /** The project's URL; its sessions are issued by `<SUPABASE_URL>/auth/v1`. */
  SUPABASE_URL: z.url(),
  /** The project's database; on the platform, Supavisor in transaction mode. */
  SUPABASE_DB_URL: z.string().regex(/^postgres(ql)?:\/\//, {
    error: "must be a postgres:// connection string",
  }),
  /** `{ "default": "sb_publishable_…", … }` */
  SUPABASE_PUBLISHABLE_KEYS: keysByName("sb_publishable_"),
  /** `{ "default": "sb_secret_…", … }` */
  SUPABASE_SECRET_KEYS: keysByName("sb_secret_"),
  /** The public keys that verify sessions. */
  SUPABASE_JWKS: json(keySet),
  [LEGACY_JWT_SECRET]: z.string().min(32, {
    error: "must be the project's legacy JWT secret (at least 32 characters)",
  }).optional(),
});

/** The validated configuration. */
export interface Env {
  databaseUrl: string;
  /** What @supabase/server verifies callers against, in the shape of its `env` option. */
  project: {
    url: string;
    publishableKeys: Record<string, string>;
    secretKeys: Record<string, string>;
    jwks: z.output<typeof keySet>;
  };
  /** The `iss` of the project's sessions. */
  issuer: string;
  /** Set only by the legacy opt-in ({@link LEGACY_JWT_SECRET}). */
  legacyJwtSecret?: string;
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
  const names = Object.keys(schema.shape);
  const parsed = schema.safeParse(
    Object.fromEntries(names.map((name) => [name, Deno.env.get(name)])),
  );
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) =>
      `${issue.path.join(".")}: ${issue.message}`
    );
    console.error(`invalid configuration: ${problems.join("; ")}`);
    throw new BridgeError("internal", `the function is misconfigured (${problems.join("; ")})`);
  }
  const values = parsed.data;
  const url = values.SUPABASE_URL.replace(/\/+$/, "");
  cached = {
    databaseUrl: values.SUPABASE_DB_URL,
    project: {
      url,
      publishableKeys: values.SUPABASE_PUBLISHABLE_KEYS,
      secretKeys: values.SUPABASE_SECRET_KEYS,
      jwks: values.SUPABASE_JWKS,
    },
    issuer: `${url}/auth/v1`,
    legacyJwtSecret: values[LEGACY_JWT_SECRET],
  };
  return cached;
}
