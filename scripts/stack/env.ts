/** The stack's `env` file: connection strings, generated secrets and API keys, in dotenv form. */
import { join } from "node:path";
import { SignJWT } from "jose";
import type { StackConfig } from "./config.ts";

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

/** An API key as Supabase issues them: an HS256 JWT naming the role, valid for ten years. */
function apiKey(role: string, secret: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ role, iss: "supabase-local" })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(now)
    .setExpirationTime(now + 10 * 365 * 24 * 3600)
    .sign(new TextEncoder().encode(secret));
}

/** The secrets a stack keeps for its whole life: generated at the first stack-up, then reused. */
export interface StackSecrets {
  SUPABASE_DB_PASSWORD: string;
  TIMESCALE_DB_PASSWORD: string;
  BRIDGE_LINK_PASSWORD: string;
  AUTHENTICATOR_PASSWORD: string;
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

/** Everything a client of the stack needs, keyed by the names Supabase uses. */
export async function stackEnv(config: StackConfig, secrets: StackSecrets) {
  const existing = readEnvFile(envFile(config));
  const url = (password: string, port: number, user = "postgres") =>
    `postgresql://${user}:${password}@127.0.0.1:${port}/postgres`;
  return {
    SUPABASE_URL: `http://127.0.0.1:${config.functionsPort}`,
    SUPABASE_DB_URL: url(secrets.SUPABASE_DB_PASSWORD, config.supabasePort),
    TIMESCALE_DB_URL: url(secrets.TIMESCALE_DB_PASSWORD, config.timescalePort),
    BRIDGE_READER_URL: url(secrets.BRIDGE_LINK_PASSWORD, config.timescalePort, "bridge_reader") +
      "?sslmode=require",
    SUPABASE_ANON_KEY: existing.SUPABASE_ANON_KEY ??
      await apiKey("anon", secrets.SUPABASE_JWT_SECRET),
    SUPABASE_SERVICE_ROLE_KEY: existing.SUPABASE_SERVICE_ROLE_KEY ??
      await apiKey("service_role", secrets.SUPABASE_JWT_SECRET),
    ...secrets,
  };
}

export function writeEnvFile(path: string, values: Record<string, string>) {
  const lines = Object.entries(values).map(([name, value]) => `${name}=${value}`);
  Deno.writeTextFileSync(path, lines.join("\n") + "\n", { mode: 0o600 });
}
