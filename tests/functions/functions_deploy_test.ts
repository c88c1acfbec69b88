/**
 * The functions every test calls are what the real `supabase functions deploy` uploaded to the
 * stack (scripts/stack/management-api.ts stands in for the Management API): each upload holds its
 * function's folder and exactly the shared files its module graph imports, byte for byte; a
 * deployed function is given only the variables Supabase documents for hosted functions; a
 * redeploy replaces one function and no other; and an upload that does not bundle fails the
 * deploy with the CLI's message, leaving what is served as it was.
 */
import assert from "node:assert/strict";
import { dirname, join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { repoRoot, stackConfig } from "../../scripts/stack/config.ts";
import { deployFunctions } from "../../scripts/stack/deploy.ts";
import { hostedFunctionEnv } from "../../scripts/stack/env.ts";
import { FunctionWorkers } from "../../scripts/stack/function-workers.ts";
import { type FunctionRecord, liveDeployments } from "../../scripts/stack/management-api.ts";
import { env } from "../support/fixture.ts";
import { embedding, secretKey } from "../support/functions.ts";

/**
 * What a hosted project gives its Edge Functions, from Supabase's documentation ("Environment
 * variables", default secrets): written here, not taken from the product.
 */
const HOSTED_VARIABLES = [
  "SUPABASE_URL",
  "SUPABASE_DB_URL",
  "SUPABASE_PUBLISHABLE_KEYS",
  "SUPABASE_SECRET_KEYS",
  "SUPABASE_JWKS",
  "SUPABASE_ANON_KEY",
  "SUPABASE_SERVICE_ROLE_KEY",
];

/**
 * The local runtime's own, not the function's: where Deno keeps its package cache (given by the
 * stack), and two that Deno as installed from npm sets in its own process, whatever it is given.
 */
const RUNTIME_VARIABLES = ["DENO_DIR", "DENO_NODE_SHIM_ACTIVE", "PATH"];

const deno = Deno.execPath();
const functionsDir = join(repoRoot, "functions");
const functionNames = [...Deno.readDirSync(functionsDir)]
  .filter((entry) => entry.isDirectory && !entry.name.startsWith("_"))
  .map((entry) => entry.name)
  .sort();

/** The functions live on the stack, from the stand-in's list (`supabase functions list`). */
async function liveFunctions(): Promise<Map<string, FunctionRecord>> {
  const response = await fetch(
    `${env("SUPABASE_URL")}/v1/projects/${env("STACK_PROJECT_REF")}/functions`,
    { headers: { Authorization: `Bearer ${env("STACK_ACCESS_TOKEN")}` } },
  );
  assert.equal(response.status, 200);
  const records: FunctionRecord[] = await response.json();
  return new Map(records.map((record) => [record.slug, record]));
}

/** The local files of a function's module graph, resolved with its own deno.json. */
async function localModules(name: string): Promise<string[]> {
  const { code, stdout, stderr } = await new Deno.Command(deno, {
    args: [
      ...["info", "--json", "--no-lock", "--config", join(functionsDir, name, "deno.json")],
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

/** Every file under `dir`, relative to it. */
function filesUnder(dir: string, below = ""): string[] {
  return [...Deno.readDirSync(join(dir, below))].flatMap((entry) =>
    entry.isDirectory
      ? filesUnder(dir, join(below, entry.name))
      : entry.isFile
      ? [join(below, entry.name)]
      : []
  );
}

/** A project of its own (supabase/config.toml and functions/) to deploy from: a copy of ours. */
function copyOfProject(): string {
  const project = Deno.makeTempDirSync({ prefix: "deploy-project-" });
  for (const file of filesUnder(repoRoot, "functions").concat("supabase/config.toml")) {
    Deno.mkdirSync(dirname(join(project, file)), { recursive: true });
    Deno.copyFileSync(join(repoRoot, file), join(project, file));
  }
  return project;
}

const search = () =>
  fetch(`${env("SUPABASE_URL")}/functions/v1/events-search`, {
    method: "POST",
    headers: { apikey: secretKey(), "Content-Type": "application/json" },
    body: JSON.stringify({ embedding: embedding(4), k: 3 }),
  });

Deno.test("each function served is the CLI's upload: its folder and the shared files it imports", async (t) => {
  const live = liveDeployments(stackConfig().dir);
  assert.deepEqual(live.map((deployment) => deployment.record.slug), functionNames);
  for (const deployment of live) {
    const name = deployment.record.slug;
    await t.step(name, async () => {
      assert.equal(deployment.metadata.entrypoint_path, `functions/${name}/index.ts`);
      assert.equal(deployment.metadata.import_map_path, `functions/${name}/deno.json`);
      assert.equal(deployment.metadata.verify_jwt, false);
      const ownFolder = [...Deno.readDirSync(join(functionsDir, name))]
        .filter((entry) => entry.isFile)
        .map((entry) => join(functionsDir, name, entry.name));
      const imported = await localModules(name);
      const expected = [...new Set([...ownFolder, ...imported])]
        .map((file) => relative(repoRoot, file)).sort();
      assert.deepEqual(filesUnder(deployment.source).sort(), expected);
      for (const file of expected) {
        assert.deepEqual(
          Deno.readFileSync(join(deployment.source, file)),
          Deno.readFileSync(join(repoRoot, file)),
          `${name}: ${file} differs from the source`,
        );
      }
    });
  }
});

Deno.test("a deployed function is given only the variables Supabase documents", async () => {
  const project = copyOfProject();
  const probe = join(project, "functions", "env-probe");
  Deno.mkdirSync(probe);
  Deno.writeTextFileSync(
    join(probe, "index.ts"),
    "export default { fetch: () => Response.json(Object.keys(Deno.env.toObject()).sort()) };\n",
  );
  Deno.writeTextFileSync(join(probe, "deno.json"), '{ "imports": {} }\n');
  const config = Deno.readTextFileSync(join(project, "supabase", "config.toml"));
  Deno.writeTextFileSync(
    join(project, "supabase", "config.toml"),
    config + '\n[functions.env-probe]\nimport_map = "../functions/env-probe/deno.json"\n' +
      'entrypoint = "../functions/env-probe/index.ts"\nverify_jwt = false\n',
  );
  try {
    await deployFunctions(stackConfig(), ["env-probe"], project);
    const response = await fetch(`${env("SUPABASE_URL")}/functions/v1/env-probe`);
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), [...HOSTED_VARIABLES, ...RUNTIME_VARIABLES].sort());
  } finally {
    await deleteFunction("env-probe");
    Deno.removeSync(project, { recursive: true });
  }
});

/** `supabase functions delete`, as the stand-in answers it. */
async function deleteFunction(slug: string) {
  const response = await fetch(
    `${env("SUPABASE_URL")}/v1/projects/${env("STACK_PROJECT_REF")}/functions/${slug}`,
    { method: "DELETE", headers: { Authorization: `Bearer ${env("STACK_ACCESS_TOKEN")}` } },
  );
  await response.body?.cancel();
}

Deno.test({
  name: "redeploying events-search replaces what is served for it, and only it",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const before = await liveFunctions();
    const project = copyOfProject();
    Deno.writeTextFileSync(
      join(project, "functions", "events-search", "index.ts"),
      'export default { fetch: () => Response.json({ redeployed: "from a changed copy" }) };\n',
    );
    try {
      await deployFunctions(stackConfig(), ["events-search"], project);
      const changed = await search();
      assert.deepEqual(await changed.json(), { redeployed: "from a changed copy" });
      const after = await liveFunctions();
      assert.equal(after.get("events-search")!.version, before.get("events-search")!.version + 1);
      for (const name of functionNames.filter((name) => name !== "events-search")) {
        assert.deepEqual(after.get(name), before.get(name), `${name} was redeployed too`);
      }
    } finally {
      await deployFunctions(stackConfig(), ["events-search"]);
      Deno.removeSync(project, { recursive: true });
    }
    const restored = await search();
    const body = await restored.json();
    assert.equal(restored.status, 200, JSON.stringify(body));
    assert.equal(body.count, 3);
  },
});

Deno.test("an upload that does not bundle fails the deploy with the CLI's message, and nothing changes", async (t) => {
  const before = await liveFunctions();
  const cases: [string, (folder: string) => void, RegExp][] = [
    [
      "an import of a file that is not there",
      (folder) =>
        Deno.writeTextFileSync(
          join(folder, "index.ts"),
          'import "./not-there.ts";\n' + Deno.readTextFileSync(join(folder, "index.ts")),
        ),
      /unexpected deploy status 400: .*Failed to bundle the function.*not-there\.ts/s,
    ],
    [
      "an import its deno.json does not map",
      (folder) =>
        Deno.writeTextFileSync(
          join(folder, "index.ts"),
          'import "left-pad";\n' + Deno.readTextFileSync(join(folder, "index.ts")),
        ),
      /unexpected deploy status 400: .*left-pad/s,
    ],
    [
      "a deno.json that is not JSON",
      (folder) => Deno.writeTextFileSync(join(folder, "deno.json"), '{ "imports": {\n'),
      /deno\.json|brace/i,
    ],
  ];
  for (const [what, breakIt, message] of cases) {
    await t.step(what, async () => {
      const project = copyOfProject();
      try {
        breakIt(join(project, "functions", "events-search"));
        await assert.rejects(
          deployFunctions(stackConfig(), ["events-search"], project),
          (error: Error) => {
            assert.match(error.message, message);
            return true;
          },
        );
      } finally {
        Deno.removeSync(project, { recursive: true });
      }
      assert.deepEqual(await liveFunctions(), before);
      const response = await search();
      assert.equal(response.status, 200, await response.text());
    });
  }
});

Deno.test({
  name: "a function missing or misreading a hosted variable answers 500 naming it, not its value",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    const deployment = liveDeployments(stackConfig().dir)
      .find((candidate) => candidate.record.slug === "bridge-health")!;
    const hosted = hostedFunctionEnv(Deno.env.toObject());
    const { SUPABASE_JWKS: _, ...withoutJwks } = hosted;
    const leaked = "sb_public_" + "z".repeat(30);
    const cases: [string, Record<string, string>, RegExp][] = [
      ["without SUPABASE_JWKS", withoutJwks, /SUPABASE_JWKS/],
      [
        "with a secret key that is not sb_secret_",
        { ...hosted, SUPABASE_SECRET_KEYS: JSON.stringify({ default: leaked }) },
        /SUPABASE_SECRET_KEYS\.default: must start sb_secret_/,
      ],
      [
        "with SUPABASE_PUBLISHABLE_KEYS not JSON",
        { ...hosted, SUPABASE_PUBLISHABLE_KEYS: leaked },
        /SUPABASE_PUBLISHABLE_KEYS: must be JSON/,
      ],
    ];
    for (const [what, variables, message] of cases) {
      await t.step(what, async () => {
        const workers = new FunctionWorkers(variables);
        try {
          await workers.serve(deployment);
          const response = await workers.fetch(
            "bridge-health",
            "/bridge-health",
            new Request("http://stack/", { headers: { apikey: secretKey() } }),
          )!;
          const text = await response.text();
          assert.equal(response.status, 500, text);
          const { error } = JSON.parse(text);
          assert.equal(error.code, "internal");
          assert.match(error.message, message);
          assert.ok(!text.includes(leaked), "the value never reaches the caller");
        } finally {
          await workers.stopAll();
        }
      });
    }
  },
});
