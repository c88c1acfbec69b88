/**
 * STAND-IN FOR THE SUPABASE PLATFORM, NOT PART OF THE PRODUCT. The Management API endpoints
 * `supabase functions deploy` (CLI 3.1.0, no Docker) calls, so the local stack deploys as users
 * deploy and serves what the CLI uploaded:
 *
 * - `GET /v1/projects/<ref>`: the project, 200.
 * - `POST /v1/projects/<ref>/functions/deploy?slug=<name>[&bundleOnly=true]`: multipart, one
 *   `file` part per source file (named by its path in the project) and a `metadata` part
 *   (`entrypoint_path`, `import_map_path`, `verify_jwt`, `name`, ...). Answers 201 with the
 *   function (anything else the CLI refuses: "unexpected deploy status 200"), or 400 when the
 *   upload does not bundle. Without bundleOnly the upload goes live at once; with it, it waits for
 *   the bulk update. The CLI deploys one function directly, several with bundleOnly then:
 * - `PUT /v1/projects/<ref>/functions`: the functions to make live, 200.
 * - `GET /v1/projects/<ref>/functions` (`supabase functions list`) and
 *   `DELETE /v1/projects/<ref>/functions/<slug>` (`supabase functions delete`).
 *
 * Every call needs `Authorization: Bearer <the stack's access token>`. Each upload is stored as
 * received, under `<stack>/functions/<slug>/<version>/`: `metadata.json` and `source/<path>`;
 * `<slug>/live.json` names the version served. Never point a real project's CLI here.
 */
import { createHash } from "node:crypto";
import { existsSync as exists } from "node:fs";
import { dirname, join, normalize } from "node:path";

/** What the CLI sends as the `metadata` part. */
export interface UploadMetadata {
  entrypoint_path: string;
  import_map_path?: string;
  verify_jwt?: boolean;
  name?: string;
  static_patterns?: string[];
}

/** A function as the Management API describes it. */
export interface FunctionRecord {
  id: string;
  slug: string;
  name: string;
  status: "ACTIVE";
  version: number;
  created_at: number;
  updated_at: number;
  verify_jwt: boolean;
  import_map: boolean;
  entrypoint_path: string;
  import_map_path?: string;
  ezbr_sha256: string;
}

/** One stored upload: where its files are, and what the CLI said about them. */
export interface Deployment {
  record: FunctionRecord;
  metadata: UploadMetadata;
  /** The upload's root: the CLI's paths (entrypoint, import map, files) are relative to it. */
  source: string;
}

export interface ManagementApiOptions {
  stackDir: string;
  projectRef: string;
  accessToken: string;
  /** Checks that an upload bundles; throws with the bundler's message when it does not. */
  bundle(deployment: Deployment): Promise<void>;
  /** Serves `deployment` in place of whatever was served for its slug. */
  goLive(deployment: Deployment): Promise<void>;
  /** Stops serving `slug`. */
  remove(slug: string): Promise<void>;
}

const functionsDir = (stackDir: string) => join(stackDir, "functions");
const versionDir = (stackDir: string, slug: string, version: number) =>
  join(functionsDir(stackDir), slug, String(version));
const liveFile = (stackDir: string, slug: string) =>
  join(functionsDir(stackDir), slug, "live.json");

/** The function names the platform accepts. */
const SLUG = /^[A-Za-z][A-Za-z0-9_-]*$/;

function readDeployment(stackDir: string, slug: string, version: number): Deployment {
  const dir = versionDir(stackDir, slug, version);
  return {
    record: JSON.parse(Deno.readTextFileSync(join(dir, "record.json"))),
    metadata: JSON.parse(Deno.readTextFileSync(join(dir, "metadata.json"))),
    source: join(dir, "source"),
  };
}

/** Every function live on the stack, as the last deploy left it. */
export function liveDeployments(stackDir: string): Deployment[] {
  if (!exists(functionsDir(stackDir))) return [];
  return [...Deno.readDirSync(functionsDir(stackDir))]
    .filter((entry) => entry.isDirectory && exists(liveFile(stackDir, entry.name)))
    .map((entry) => {
      const { version } = JSON.parse(Deno.readTextFileSync(liveFile(stackDir, entry.name)));
      return readDeployment(stackDir, entry.name, version);
    })
    .sort((a, b) => a.record.slug.localeCompare(b.record.slug));
}

/** An answer in the Management API's shape: JSON, errors as `{ "message" }`. */
const answer = (status: number, body: unknown) => Response.json(body, { status });
const failure = (status: number, message: string) => answer(status, { message });

/** Stores the multipart upload exactly as received, as the slug's next version. */
async function storeUpload(stackDir: string, slug: string, form: FormData): Promise<Deployment> {
  const metadataText = form.get("metadata");
  if (typeof metadataText !== "string") throw new RangeError("the metadata part is missing");
  const metadata: UploadMetadata = JSON.parse(metadataText);
  if (typeof metadata.entrypoint_path !== "string") {
    throw new RangeError("metadata.entrypoint_path is missing");
  }
  const files = form.getAll("file").filter((part): part is File => part instanceof File);
  const slugDir = join(functionsDir(stackDir), slug);
  Deno.mkdirSync(slugDir, { recursive: true });
  const versions = [...Deno.readDirSync(slugDir)].map((entry) => Number(entry.name))
    .filter(Number.isInteger);
  const version = Math.max(0, ...versions) + 1;
  const dir = versionDir(stackDir, slug, version);
  const hash = createHash("sha256");
  for (const file of files) {
    const path = normalize(file.name);
    if (path.startsWith("..") || path.startsWith("/")) {
      throw new RangeError(`file ${JSON.stringify(file.name)} is outside the project`);
    }
    const bytes = new Uint8Array(await file.arrayBuffer());
    hash.update(path).update(bytes);
    Deno.mkdirSync(dirname(join(dir, "source", path)), { recursive: true });
    Deno.writeFileSync(join(dir, "source", path), bytes);
  }
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(join(dir, "metadata.json"), metadataText);
  const previous = exists(liveFile(stackDir, slug))
    ? JSON.parse(Deno.readTextFileSync(liveFile(stackDir, slug))) as FunctionRecord
    : undefined;
  const now = Date.now();
  const record: FunctionRecord = {
    id: previous?.id ?? crypto.randomUUID(),
    slug,
    name: metadata.name ?? slug,
    status: "ACTIVE",
    version,
    created_at: previous?.created_at ?? now,
    updated_at: now,
    verify_jwt: metadata.verify_jwt ?? true,
    import_map: metadata.import_map_path !== undefined,
    entrypoint_path: metadata.entrypoint_path,
    ...(metadata.import_map_path === undefined
      ? {}
      : { import_map_path: metadata.import_map_path }),
    ezbr_sha256: hash.digest("hex"),
  };
  Deno.writeTextFileSync(join(dir, "record.json"), JSON.stringify(record, null, 2));
  return { record, metadata, source: join(dir, "source") };
}

/** Makes a stored version the one served, and deletes the versions before it. */
async function goLive(options: ManagementApiOptions, deployment: Deployment) {
  const { stackDir } = options;
  const { slug, version } = deployment.record;
  await options.goLive(deployment);
  Deno.writeTextFileSync(liveFile(stackDir, slug), JSON.stringify({ version }));
  for (const entry of Deno.readDirSync(join(functionsDir(stackDir), slug))) {
    if (Number(entry.name) < version) {
      Deno.removeSync(join(functionsDir(stackDir), slug, entry.name), { recursive: true });
    }
  }
}

/**
 * The stand-in's request handler: an answer for the Management API's paths, undefined for any
 * other path.
 */
export function managementApi(options: ManagementApiOptions) {
  const { stackDir, projectRef } = options;
  const project = `/v1/projects/${projectRef}`;
  return async (request: Request): Promise<Response | undefined> => {
    const url = new URL(request.url);
    if (!url.pathname.startsWith("/v1/")) return undefined;
    if (request.headers.get("authorization") !== `Bearer ${options.accessToken}`) {
      return failure(401, "Unauthorized");
    }
    const route = `${request.method} ${url.pathname}`;
    if (route === `GET ${project}`) {
      return answer(200, {
        id: projectRef,
        ref: projectRef,
        organization_id: "local",
        name: "fdw-bridge local stack",
        region: "local",
        status: "ACTIVE_HEALTHY",
        created_at: new Date(0).toISOString(),
      });
    }
    if (route === `POST ${project}/functions/deploy`) {
      const slug = url.searchParams.get("slug") ?? "";
      if (!SLUG.test(slug)) return failure(400, `invalid function slug: ${JSON.stringify(slug)}`);
      let deployment: Deployment;
      try {
        deployment = await storeUpload(stackDir, slug, await request.formData());
      } catch (error) {
        return failure(400, `invalid upload: ${(error as Error).message}`);
      }
      try {
        await options.bundle(deployment);
      } catch (error) {
        // A refused upload leaves nothing behind, so the next upload gets the next version.
        Deno.removeSync(dirname(deployment.source), { recursive: true });
        return failure(400, `Failed to bundle the function (reason: ${(error as Error).message})`);
      }
      const bundleOnly = ["true", "1"].includes(url.searchParams.get("bundleOnly") ?? "");
      if (!bundleOnly) await goLive(options, deployment);
      return answer(201, deployment.record);
    }
    if (route === `PUT ${project}/functions`) {
      const items: { slug?: string; version?: number }[] = await request.json().catch(() => null);
      if (!Array.isArray(items)) return failure(400, "the body must be an array of functions");
      const deployments: Deployment[] = [];
      for (const { slug, version } of items) {
        const found = typeof slug === "string" && SLUG.test(slug) && Number.isInteger(version) &&
          exists(versionDir(stackDir, slug, version!));
        if (!found) return failure(400, `no uploaded version ${version} of ${slug}`);
        deployments.push(readDeployment(stackDir, slug!, version!));
      }
      for (const deployment of deployments) await goLive(options, deployment);
      return answer(200, { functions: deployments.map((deployment) => deployment.record) });
    }
    if (route === `GET ${project}/functions`) {
      return answer(200, liveDeployments(stackDir).map((deployment) => deployment.record));
    }
    const [, slug] = url.pathname.match(new RegExp(`^${project}/functions/([^/]+)$`)) ?? [];
    if (request.method === "DELETE" && slug && SLUG.test(slug)) {
      if (!exists(liveFile(stackDir, slug))) return failure(404, "Function not found");
      await options.remove(slug);
      Deno.removeSync(join(functionsDir(stackDir), slug), { recursive: true });
      return answer(200, { message: `Successfully deleted function ${slug}` });
    }
    return failure(404, `the local stand-in does not implement ${route}`);
  };
}
