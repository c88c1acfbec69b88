/** The stack's `env` file: connection strings, generated secrets and API keys, in dotenv form. */
import { join } from "node:path";
import { createApiKey, createSigningKey, publicKeySet, signLegacyJwt } from "./auth.ts";
import type { StackConfig } from "./config.ts";

/**
 * What a hosted project gives its Edge Functions, and all it gives them (DESIGN.md, fact 10):
 * the local gateway passes these and nothing more.
 */
export const hostedFunctionEnvNames = [
  "SUPABASE_URL",
  "SUPABASE_DB_URL",
  "SUPABASE_PUBLISHABLE_KEYS",
  "SUPABASE_SECRET_KEYS",
  "SUPABASE_JWKS",
  "SUPABASE_ANON_KEY",
  "SUPABASE_SERVICE_ROLE_KEY",
] as const;

/** The hosted variables out of a stack's env (those it has). */
export function hostedFunctionEnv(values: Record<string, string>): Record<string, string> {
  return Object.fromEntries(
    hostedFunctionEnvNames.filter((name) => name in values).map((name) => [name, values[name]]),
  );
}

export const envFile = (config: StackConfig) => join(config.dir, "env");

/** Reads a dotenv file into an object; an absent file reads as empty. */
export function readEnvFile(path: string): Record<string, string> {
  let text = "";
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return {};
  }
  const values: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const match = line.match(/^([A-Z_][A-Z0-9_]*)=(.*)$/);
    if (match) values[match[1]] = match[2];
  }
  return values;
}

function randomSecret(bytes = 24): string {
  const buffer = crypto.getRandomValues(new Uint8Array(bytes));
  return Array.from(buffer, (byte) => byte.toString(16).padStart(2, "0")).join("");
}

/** The secrets a stack keeps for its whole life: generated at the first stack-up, then reused. */
export interface StackSecrets {
  SUPABASE_DB_PASSWORD: string;
  TIMESCALE_DB_PASSWORD: string;
  BRIDGE_LINK_PASSWORD: string;
  AUTHENTICATOR_PASSWORD: string;
  /** The stand-in for a legacy project's JWT secret: signs the legacy anon and service keys. */
  SUPABASE_JWT_SECRET: string;
}

export function loadOrCreateSecrets(config: StackConfig): StackSecrets {
  const existing = readEnvFile(envFile(config));
  const pick = (name: keyof StackSecrets, bytes?: number) => existing[name] ?? randomSecret(bytes);
  return {
    SUPABASE_DB_PASSWORD: pick("SUPABASE_DB_PASSWORD"),
    TIMESCALE_DB_PASSWORD: pick("TIMESCALE_DB_PASSWORD"),
    BRIDGE_LINK_PASSWORD: pick("BRIDGE_LINK_PASSWORD"),
    AUTHENTICATOR_PASSWORD: pick("AUTHENTICATOR_PASSWORD"),
    SUPABASE_JWT_SECRET: pick("SUPABASE_JWT_SECRET", 32),
  };
}

/**
 * Everything a client of the stack needs, keyed by the names Supabase uses, and the key that
 * signs sessions (JWT_SIGNING_KEY, a private JWK: the stand-in for Supabase Auth's). Keys made
 * at the first stack-up are kept, so a second stack-up writes the same file.
 */
export async function stackEnv(config: StackConfig, secrets: StackSecrets) {
  const existing = readEnvFile(envFile(config));
  const signingKey = existing.JWT_SIGNING_KEY ?? JSON.stringify(await createSigningKey());
  const legacyKey = (role: string) =>
    signLegacyJwt(secrets.SUPABASE_JWT_SECRET, { claims: { role } });
  const url = (password: string, port: number, user = "postgres") =>
    `postgresql://${user}:${password}@127.0.0.1:${port}/postgres`;
  return {
    SUPABASE_URL: `http://127.0.0.1:${config.functionsPort}`,
    SUPABASE_DB_URL: url(secrets.SUPABASE_DB_PASSWORD, config.supabasePort),
    TIMESCALE_DB_URL: url(secrets.TIMESCALE_DB_PASSWORD, config.timescalePort),
    BRIDGE_READER_URL: url(secrets.BRIDGE_LINK_PASSWORD, config.timescalePort, "bridge_reader") +
      "?sslmode=require",
    SUPABASE_PUBLISHABLE_KEYS: existing.SUPABASE_PUBLISHABLE_KEYS ??
      JSON.stringify({ default: createApiKey("publishable") }),
    SUPABASE_SECRET_KEYS: existing.SUPABASE_SECRET_KEYS ??
      JSON.stringify({ default: createApiKey("secret") }),
    SUPABASE_JWKS: JSON.stringify(publicKeySet(JSON.parse(signingKey))),
    SUPABASE_ANON_KEY: existing.SUPABASE_ANON_KEY ?? await legacyKey("anon"),
    SUPABASE_SERVICE_ROLE_KEY: existing.SUPABASE_SERVICE_ROLE_KEY ??
      await legacyKey("service_role"),
    JWT_SIGNING_KEY: signingKey,
    ...secrets,
  };
}

export function writeEnvFile(path: string, values: Record<string, string>) {
  const lines = Object.entries(values).map(([name, value]) => `${name}=${value}`);
  Deno.writeTextFileSync(path, lines.join("\n") + "\n", { mode: 0o600 });
}
