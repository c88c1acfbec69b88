/** Running external commands: as the current user, or as the `postgres` OS user when root. */

export const isRoot = Deno.uid() === 0;

export interface RunOptions {
  /** Run as the OS user that owns the clusters (`postgres` when we are root). */
  asClusterOwner?: boolean;
  env?: Record<string, string>;
  cwd?: string;
  stdin?: string;
}

/** Runs a command to completion and returns its stdout; throws with its stderr on failure. */
export async function run(cmd: string, args: string[], options: RunOptions = {}): Promise<string> {
  const argv = options.asClusterOwner && isRoot
    ? ["runuser", "-u", "postgres", "--", cmd, ...args]
    : [cmd, ...args];
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    env: options.env,
    // The cluster owner may not be allowed into the caller's directory.
    cwd: options.cwd ?? (options.asClusterOwner && isRoot ? "/" : undefined),
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder();
  if (code !== 0) {
    const detail = (text.decode(stderr) || text.decode(stdout)).trim();
    throw new Error(`${argv.join(" ")} exited with ${code}\n${detail}`);
  }
  return text.decode(stdout);
}

/** True when the command exits 0; never throws for a non-zero exit. */
export async function succeeds(cmd: string, args: string[], options: RunOptions = {}) {
  try {
    await run(cmd, args, options);
    return true;
  } catch {
    return false;
  }
}
