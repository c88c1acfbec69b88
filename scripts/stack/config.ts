/** Where a stack lives and which ports it uses; the dev stack's defaults match Supabase's. */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface StackConfig {
  /** Holds the clusters, their logs and `env`. */
  dir: string;
  supabasePort: number;
  /** The first Timescale node's port; node i listens on timescalePort + i - 1. */
  timescalePort: number;
  functionsPort: number;
  /** How many Timescale nodes run (1 when absent); the first is the bridge's default node. */
  timescaleNodes?: number;
  /** The Supabase side's PostgreSQL major version (17 when absent, as new hosted projects). */
  supabasePg?: SupabasePg;
}

/** The Supabase side runs 17 by default, where new hosted projects run, or 15 when asked. */
export type SupabasePg = 15 | 17;
export const DEFAULT_SUPABASE_PG: SupabasePg = 17;

export function supabasePgVersion(text: string): SupabasePg {
  if (text === "15" || text === "17") return Number(text) as SupabasePg;
  throw new Error(`the Supabase side runs PostgreSQL 15 or 17, got ${text}`);
}

export const timescaleNodePort = (config: StackConfig, i: number) => config.timescalePort + i - 1;

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

/**
 * The stack STACK_DIR, STACK_*_PORT, STACK_TIMESCALE_NODES and STACK_SUPABASE_PG name, else the
 * dev stack: `.stack/`, Supabase's local ports (54321 API, 54322 database), one Timescale node on
 * 54332, the Supabase side on PostgreSQL 17.
 */
export function stackConfig(env = Deno.env.toObject()): StackConfig {
  const port = (name: string, fallback: number) => {
    const value = Number(env[name] ?? fallback);
    if (!Number.isInteger(value) || value < 1024 || value > 65535) {
      throw new Error(`${name} must be a port from 1024 to 65535, got ${env[name]}`);
    }
    return value;
  };
  return {
    dir: env.STACK_DIR ?? join(repoRoot, ".stack"),
    supabasePort: port("STACK_SUPABASE_PORT", 54322),
    timescalePort: port("STACK_TIMESCALE_PORT", 54332),
    functionsPort: port("STACK_FUNCTIONS_PORT", 54321),
    timescaleNodes: timescaleNodeCount(env.STACK_TIMESCALE_NODES ?? "1"),
    supabasePg: supabasePgVersion(env.STACK_SUPABASE_PG ?? String(DEFAULT_SUPABASE_PG)),
  };
}

/** The most Timescale nodes a local stack runs: enough for every topology the tests try. */
export const MAX_TIMESCALE_NODES = 3;

export function timescaleNodeCount(text: string): number {
  const count = Number(text);
  if (!Number.isInteger(count) || count < 1 || count > MAX_TIMESCALE_NODES) {
    throw new Error(
      `the number of Timescale nodes must be 1 to ${MAX_TIMESCALE_NODES}, got ${text}`,
    );
  }
  return count;
}
