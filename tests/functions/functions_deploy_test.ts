/**
 * What `supabase functions deploy` uploads is enough: for each function, its folder (with its
 * deno.json) and the shared files its module graph imports are copied into an empty directory,
 * served from there by `deno serve` with that deno.json and exactly the variables a hosted
 * project gives a function (the process environment is cleared), and called. A file reached
 * outside the upload, an import the deno.json lacks or a variable the platform does not set
 * fails here.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { repoRoot } from "../../scripts/stack/config.ts";
import { hostedFunctionEnvNames } from "../../scripts/stack/env.ts";
import {
  embedding,
  publishableKey,
  secretKey,
  spareTestPort,
  stopChild,
  userToken,
  waitForServer,
} from "../support/functions.ts";
import { env } from "../support/fixture.ts";

const deno = Deno.execPath();
const functionsDir = join(repoRoot, "functions");
const functionNames = [...Deno.readDirSync(functionsDir)]
  .filter((entry) => entry.isDirectory && !entry.name.startsWith("_"))
  .map((entry) => entry.name)
  .sort();

/** The local files of a function's module graph, resolved with its own deno.json. */
async function localModules(name: string): Promise<string[]> {
  const { code, stdout, stderr } = await new Deno.Command(deno, {
    args: [
      "info",
      "--json",
      "--no-lock",
      "--config",
      join(functionsDir, name, "deno.json"),
      join(functionsDir, name, "index.ts"),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const graph: { modules: { specifier: string }[] } = JSON.parse(new TextDecoder().decode(stdout));
  return graph.modules.map((module) => module.specifier)
    .filter((specifier) => specifier.startsWith("file:"))
    .map((specifier) => fileURLToPath(specifier));
}

/** Copies what deploying `name` uploads into `target`, keeping the paths below functions/. */
async function copyUpload(name: string, target: string) {
  const ownFolder = [...Deno.readDirSync(join(functionsDir, name))]
    .filter((entry) => entry.isFile)
    .map((entry) => join(functionsDir, name, entry.name));
  const shared = (await localModules(name)).filter((file) =>
    !file.startsWith(join(functionsDir, name))
  );
  for (const file of shared) {
    assert.ok(
      file.startsWith(join(functionsDir, "_shared") + "/"),
      `${name} imports ${file}, outside its folder and functions/_shared/`,
    );
  }
  for (const file of [...ownFolder, ...shared]) {
    const copy = join(target, "functions", relative(functionsDir, file));
    Deno.mkdirSync(dirname(copy), { recursive: true });
    Deno.copyFileSync(file, copy);
  }
}

/** Each function's request, and who calls it: a user session, then the secret key. */
const calls: Record<string, RequestInit> = {
  "events-search": { method: "POST", body: JSON.stringify({ embedding: embedding(4), k: 3 }) },
  "mission-activity": { method: "POST", body: JSON.stringify({ missionIds: [10001], limit: 3 }) },
  "event-histogram": {
    method: "POST",
    body: JSON.stringify({
      bucket: "1 day",
      from: "2026-10-01T00:00:00Z",
      to: "2026-10-02T00:00:00Z",
    }),
  },
  "bridge-health": { method: "GET" },
};

/**
 * Serves function `name` from the copy of its upload in `upload` with `deno serve`, its own
 * deno.json and only the variables in `variables` (the process environment is cleared), runs
 * `use` against its URL, then ends it as the platform ends an isolate (a graceful stop would wait
 * out the database pool's idle connections).
 */
async function serveUpload(
  upload: string,
  name: string,
  variables: Record<string, string>,
  use: (url: string) => Promise<void>,
) {
  const folder = join(upload, "functions", name);
  const port = spareTestPort(2);
  const child = new Deno.Command(deno, {
    args: [
      "serve",
      "--no-lock",
      "--config",
      join(folder, "deno.json"),
      "--allow-net",
      "--allow-env",
      "--allow-sys",
      `--allow-read=${upload}`,
      "--host",
      "127.0.0.1",
      "--port",
      String(port),
      join(folder, "index.ts"),
    ],
    cwd: upload,
    clearEnv: true,
    // Deno's own cache of npm packages is where it was; the function sees nothing else.
    env: { ...variables, DENO_DIR: await denoDir(), NO_COLOR: "1" },
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    await waitForServer(child, port);
    await use(`http://127.0.0.1:${port}/${name}`);
  } finally {
    await stopChild(child, "SIGKILL");
  }
}

/**
 * What a hosted project gives its Edge Functions, as Supabase documents it, written here and not
 * taken from the product's list, so that a name missing from that list is caught.
 */
const hostedNames = [
  "SUPABASE_URL",
  "SUPABASE_DB_URL",
  "SUPABASE_PUBLISHABLE_KEYS",
  "SUPABASE_SECRET_KEYS",
  "SUPABASE_JWKS",
  "SUPABASE_ANON_KEY",
  "SUPABASE_SERVICE_ROLE_KEY",
];
const hosted = () => Object.fromEntries(hostedNames.map((name) => [name, env(name)]));

Deno.test("the local gateway passes functions the hosted variables, all and only them", () => {
  assert.deepEqual(
    [...hostedFunctionEnvNames].sort(),
    [...hostedNames].sort(),
    "the gateway's list of hosted variables",
  );
});

Deno.test({
  name: "each function runs from a copy of its upload, with only the hosted variables",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    assert.deepEqual(Object.keys(calls).sort(), functionNames);
    const upload = Deno.makeTempDirSync({ prefix: "functions-upload-" });
    try {
      for (const name of functionNames) {
        await t.step(name, async () => {
          await copyUpload(name, upload);
          await serveUpload(upload, name, hosted(), async (url) => {
            const callers: [string, HeadersInit, number][] = [
              ["a user session", {
                apikey: publishableKey(),
                Authorization: `Bearer ${await userToken(2)}`,
              }, name === "bridge-health" ? 403 : 200],
              ["the secret key", { apikey: secretKey() }, 200],
            ];
            for (const [who, headers, status] of callers) {
              const response = await fetch(url, {
                ...calls[name],
                headers: { "Content-Type": "application/json", ...headers },
              });
              const body = await response.json();
              assert.equal(response.status, status, `${who}: ${JSON.stringify(body)}`);
            }
          });
        });
      }
    } finally {
      Deno.removeSync(upload, { recursive: true });
    }
  },
});

Deno.test({
  name: "a function missing or misreading a hosted variable answers 500 naming it, not its value",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const upload = Deno.makeTempDirSync({ prefix: "functions-upload-" });
    const { SUPABASE_JWKS: _, ...withoutJwks } = hosted();
    const leaked = "sb_public_" + "z".repeat(30);
    const cases: [string, Record<string, string>, RegExp][] = [
      ["without SUPABASE_JWKS", withoutJwks, /SUPABASE_JWKS/],
      [
        "with a secret key that is not sb_secret_",
        { ...hosted(), SUPABASE_SECRET_KEYS: JSON.stringify({ default: leaked }) },
        /SUPABASE_SECRET_KEYS\.default: must start sb_secret_/,
      ],
      [
        "with SUPABASE_PUBLISHABLE_KEYS not JSON",
        { ...hosted(), SUPABASE_PUBLISHABLE_KEYS: leaked },
        /SUPABASE_PUBLISHABLE_KEYS: must be JSON/,
      ],
    ];
    try {
      await copyUpload("bridge-health", upload);
      for (const [what, variables, message] of cases) {
        await t.step(what, async () => {
          await serveUpload(upload, "bridge-health", variables, async (url) => {
            const response = await fetch(url, { headers: { apikey: secretKey() } });
            const text = await response.text();
            assert.equal(response.status, 500, text);
            const { error } = JSON.parse(text);
            assert.equal(error.code, "internal");
            assert.match(error.message, message);
            assert.ok(!text.includes(leaked), "the value never reaches the caller");
          });
        });
      }
    } finally {
      Deno.removeSync(upload, { recursive: true });
    }
  },
});

let cachedDenoDir: string | undefined;

/** Where this Deno keeps its module and npm cache. */
async function denoDir(): Promise<string> {
  if (cachedDenoDir) return cachedDenoDir;
  const { stdout } = await new Deno.Command(deno, { args: ["info", "--json"], stdout: "piped" })
    .output();
  cachedDenoDir = JSON.parse(new TextDecoder().decode(stdout)).denoDir as string;
  return cachedDenoDir;
}
