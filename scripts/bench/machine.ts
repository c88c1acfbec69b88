/** The machine and software a run measured, so numbers are never read without their context. */
import type { Connections } from "./db.ts";

/** What a run ran on. */
export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  kernel: string;
  deno: string;
  postgres: string;
  pgvector: string;
  timescaledb: string;
}

function readOr(path: string, fallback = ""): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return fallback;
  }
}

/**
 * Reads the CPU, memory and OS from /proc and /etc, and the database versions from the node.
 *
 * @example
 * const machine = await describeMachine(db); // { cpu: "AMD EPYC ...", cores: 2, ... }
 */
export async function describeMachine(db: Connections): Promise<Machine> {
  const cpuinfo = readOr("/proc/cpuinfo");
  const memKb = Number(readOr("/proc/meminfo").match(/MemTotal:\s+(\d+)/)?.[1] ?? 0);
  const [{ version }] = await db.timescaleAdmin<{ version: string }[]>`select version()`;
  const extensions = await db.timescaleAdmin<{ extname: string; extversion: string }[]>`
    select extname, extversion from pg_catalog.pg_extension
     where extname in ('vector', 'timescaledb')`;
  const versionOf = (name: string) => extensions.find((e) => e.extname === name)?.extversion ?? "";
  return {
    cpu: cpuinfo.match(/model name\s*:\s*(.+)/)?.[1]?.trim() ?? "unknown",
    cores: navigator.hardwareConcurrency,
    memoryGiB: Math.round(memKb / 1024 / 1024 * 10) / 10,
    os: readOr("/etc/os-release").match(/PRETTY_NAME="?([^"\n]+)/)?.[1] ?? Deno.build.os,
    kernel: Deno.osRelease(),
    deno: Deno.version.deno,
    postgres: version.split(" on ")[0],
    pgvector: versionOf("vector"),
    timescaledb: versionOf("timescaledb"),
  };
}

/** One line: "2 cores (AMD EPYC 7B13), 23.5 GiB, Debian GNU/Linux 12 (bookworm)". */
export const machineLine = (m: Machine) =>
  `${m.cores} cores (${m.cpu}), ${m.memoryGiB} GiB RAM, ${m.os}, kernel ${m.kernel}; ` +
  `${m.postgres}, pgvector ${m.pgvector}, TimescaleDB ${m.timescaledb}, Deno ${m.deno}`;
