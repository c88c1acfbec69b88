/** Where a stack lives and which ports it uses; the dev stack's defaults match Supabase's. */
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export interface StackConfig {
  /** Directory holding both clusters, their logs, the TLS key pair and `env`. */
  dir: string;
  supabasePort: number;
  timescalePort: number;
  functionsPort: number;
}

/** The repository's root: two levels above this file. */
export const repoRoot = fileURLToPath(new URL("../../", import.meta.url)).replace(/\/$/, "");

/**
 * Reads the stack's location and ports from STACK_DIR and STACK_*_PORT, falling back to the
 * dev stack: `.stack/` and Supabase's local ports (54321 API, 54322 database), with the
 * Timescale node beside them on 54332.
 *
 * @example
 * const config = stackConfig(); // { dir: "/repo/.stack", supabasePort: 54322, ... }
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
  };
}
