/** The stack's `env` file: connection strings, generated secrets and API keys, in dotenv form. */
import { Buffer } from "node:buffer";
import { existsSync as exists } from "node:fs";
import { join } from "node:path";
import { createApiKey, createSigningKey, signLegacyJwt } from "./auth.ts";
import type { StackConfig } from "./config.ts";

/**
 * What a hosted project gives its Edge Functions, and all it gives them (docs/design.md § what a
 * hosted Edge Function is given): the local gateway passes these and nothing more.
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
  if (!exists(path)) return {};
  const lines = Deno.readTextFileSync(path).matchAll(/^([A-Z_][A-Z0-9_]*)=(.*)$/gm);
  return Object.fromEntries([...lines].map(([, name, value]) => [name, value]));
}

/**
 * Writes the stack's env file: everything a client of the stack needs, keyed by the names
 * Supabase uses, and the key that signs sessions (JWT_SIGNING_KEY, a private JWK: the stand-in for
 * Supabase Auth's). What the first stack-up made is kept, so a second one writes the same file.
 */
export async function writeStackEnv(config: StackConfig): Promise<Record<string, string>> {
  const kept = readEnvFile(envFile(config));
  const random = (bytes: number) =>
    Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");
  // The stand-in for a legacy project's JWT secret: signs the legacy anon and service keys.
  const legacySecret = kept.SUPABASE_JWT_SECRET ?? random(32);
  const legacyKey = (role: string) => signLegacyJwt(legacySecret, { claims: { role } });
  const env: Record<string, string> = {
    SUPABASE_DB_PASSWORD: random(24),
    TIMESCALE_DB_PASSWORD: random(24),
    BRIDGE_LINK_PASSWORD: random(24),
    AUTHENTICATOR_PASSWORD: random(24),
    SUPABASE_JWT_SECRET: legacySecret,
    SUPABASE_ANON_KEY: await legacyKey("anon"),
    SUPABASE_SERVICE_ROLE_KEY: await legacyKey("service_role"),
    SUPABASE_PUBLISHABLE_KEYS: JSON.stringify({ default: createApiKey("publishable") }),
    SUPABASE_SECRET_KEYS: JSON.stringify({ default: createApiKey("secret") }),
    JWT_SIGNING_KEY: JSON.stringify(await createSigningKey()),
    // What the stack's CLI profile deploys with: a project ref (20 lowercase letters, as the
    // platform's) and a personal access token (`sbp_…`), both accepted by the local stand-in only.
    STACK_PROJECT_REF: Array.from(
      crypto.getRandomValues(new Uint8Array(20)),
      (byte) => String.fromCharCode(97 + byte % 26),
    ).join(""),
    STACK_ACCESS_TOKEN: `sbp_${random(20)}`,
    ...kept,
  };
  // The project's key set verifies sessions with the signing key's public half: all but `d`.
  const { d: _private, ...publicKey } = JSON.parse(env.JWT_SIGNING_KEY);
  const url = (user: string, password: string, port: number) =>
    `postgresql://${user}:${password}@127.0.0.1:${port}/postgres`;
  Object.assign(env, {
    SUPABASE_URL: `http://127.0.0.1:${config.functionsPort}`,
    SUPABASE_DB_URL: url("postgres", env.SUPABASE_DB_PASSWORD, config.supabasePort),
    TIMESCALE_DB_URL: url("postgres", env.TIMESCALE_DB_PASSWORD, config.timescalePort),
    BRIDGE_READER_URL: url("bridge_reader", env.BRIDGE_LINK_PASSWORD, config.timescalePort) +
      "?sslmode=require",
    SUPABASE_JWKS: JSON.stringify({ keys: [publicKey] }),
  });
  const lines = Object.entries(env).map(([name, value]) => `${name}=${value}\n`);
  Deno.writeTextFileSync(envFile(config), lines.join(""), { mode: 0o600 });
  return env;
}
