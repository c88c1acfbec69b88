/**
 * The local stand-in for the platform's function runtime: each deployed upload runs as its own
 * `deno serve` process, from the upload's directory, with the upload's own import map (the
 * deno.json the CLI sent), read access to the upload alone, and only the variables a hosted
 * project gives its functions plus the project's secrets (the process environment is cleared).
 */
import { join } from "node:path";
import type { Deployment } from "./management-api.ts";

const deno = Deno.execPath();

interface Worker {
  version: number;
  url: string;
  child: Deno.ChildProcess;
}

let denoDir: string | undefined;

/** Where this Deno keeps its module and npm cache: the workers read packages from it. */
async function denoCacheDir(): Promise<string> {
  if (denoDir) return denoDir;
  const { stdout } = await new Deno.Command(deno, { args: ["info", "--json"], stdout: "piped" })
    .output();
  denoDir = JSON.parse(new TextDecoder().decode(stdout)).denoDir as string;
  return denoDir;
}

/** The upload's import map, else no configuration at all (never one found above the upload). */
const configArgs = ({ metadata, source }: Deployment) =>
  metadata.import_map_path ? ["--config", join(source, metadata.import_map_path)] : ["--no-config"];

/**
 * Resolves and fetches the upload's module graph, as the platform bundles an upload: an import
 * the upload does not hold or its import map cannot resolve fails with Deno's message.
 */
export async function bundle(deployment: Deployment): Promise<void> {
  const entrypoint = join(deployment.source, deployment.metadata.entrypoint_path);
  const { code, stderr } = await new Deno.Command(deno, {
    args: ["cache", "--no-lock", ...configArgs(deployment), entrypoint],
    cwd: deployment.source,
    env: { NO_COLOR: "1" },
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) throw new Error(new TextDecoder().decode(stderr).trim());
}

/** Forwards a worker's output to ours, line by line, named by its function; resolves its port. */
async function watchOutput(
  slug: string,
  stream: ReadableStream<Uint8Array>,
  onPort: (port: number) => void,
) {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    pending += chunk;
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) {
      const port = line.match(/Listening on http:\/\/127\.0\.0\.1:(\d+)/)?.[1];
      if (port) onPort(Number(port));
      else console.error(`${slug}: ${line}`);
    }
  }
}

/** The running workers, one per function slug. */
export class FunctionWorkers {
  #workers = new Map<string, Worker>();

  /** `variables`: what every function is given, and nothing else. */
  constructor(private readonly variables: Record<string, string>) {}

  /** The slugs served, in order. */
  get slugs(): string[] {
    return [...this.#workers.keys()].sort();
  }

  /** Starts `deployment` and, once it listens, serves it in place of its slug's current one. */
  async serve(deployment: Deployment): Promise<void> {
    const { slug, version } = deployment.record;
    const entrypoint = join(deployment.source, deployment.metadata.entrypoint_path);
    const child = new Deno.Command(deno, {
      args: [
        "serve",
        "--no-lock",
        ...configArgs(deployment),
        "--allow-net",
        "--allow-env",
        "--allow-sys",
        `--allow-read=${deployment.source}`,
        "--host",
        "127.0.0.1",
        "--port",
        "0",
        entrypoint,
      ],
      cwd: deployment.source,
      clearEnv: true,
      env: { ...this.variables, DENO_DIR: await denoCacheDir() },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const port = await new Promise<number>((resolve, reject) => {
      watchOutput(slug, child.stdout, resolve);
      watchOutput(slug, child.stderr, resolve);
      child.status.then(({ code }) => reject(new Error(`${slug} exited with ${code} on start`)));
      timer = setTimeout(() => reject(new Error(`${slug} did not listen within 60 s`)), 60_000);
    }).catch(async (error) => {
      await stop(child);
      throw error;
    }).finally(() => clearTimeout(timer));
    const previous = this.#workers.get(slug);
    this.#workers.set(slug, { version, url: `http://127.0.0.1:${port}`, child });
    if (previous) await stop(previous.child);
  }

  /** Stops serving `slug`. */
  async remove(slug: string): Promise<void> {
    const worker = this.#workers.get(slug);
    this.#workers.delete(slug);
    if (worker) await stop(worker.child);
  }

  async stopAll(): Promise<void> {
    for (const slug of this.slugs) await this.remove(slug);
  }

  /** `request` as the function `slug` sees it (path `/<slug>/...`); undefined if none runs. */
  fetch(slug: string, path: string, request: Request): Promise<Response> | undefined {
    const worker = this.#workers.get(slug);
    if (!worker) return undefined;
    const { method, headers, body } = request;
    return fetch(worker.url + path, { method, headers, body, redirect: "manual" });
  }
}

/** Ends a worker as the platform ends an isolate: at once (a graceful stop would wait out the
 * database pool's idle connections). */
async function stop(child: Deno.ChildProcess) {
  try {
    child.kill("SIGKILL");
  } catch {
    // already ended
  }
  await child.status;
}
