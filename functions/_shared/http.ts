/**
 * HTTP in and out for every function: CORS and the OPTIONS preflight as in Supabase's examples,
 * one method per function, a deadline on every request, JSON bodies read with a size cap and
 * validated by a zod schema, and every failure answered through errors.ts.
 */
import { corsHeaders as supabaseCorsHeaders } from "@supabase/supabase-js/cors";
import type { z } from "zod";
import { BridgeError, errorResponse, invalidInput } from "./errors.ts";

/** The CORS headers of every answer: supabase-js's own list, which follows what it sends. */
export const corsHeaders: Record<string, string> = supabaseCorsHeaders;

/** The largest request body accepted: 1 MiB, well above a 768-number embedding (~15 KB). */
const MAX_BODY_BYTES = 1024 * 1024;

/** Every request is answered within this, below the platform's own limit on a request. */
export const REQUEST_DEADLINE_MS = 10_000;

/** A function's work: from a request whose method matched to its response. */
export type Work = (request: Request) => Promise<Response>;

/**
 * The fetch handler of a function that answers `method` at its own path: answers the CORS
 * preflight, refuses other methods (405) and sub-paths (404), bounds the work by
 * {@link REQUEST_DEADLINE_MS} (504), and turns whatever the work throws into the error shape.
 *
 * @example
 * export default {
 *   fetch: endpoint("POST", async (request) => Response.json(await readJson(request, schema))),
 * };
 */
export function endpoint(
  method: "GET" | "POST",
  work: Work,
): (request: Request) => Promise<Response> {
  return async (request) => {
    if (request.method === "OPTIONS") return new Response("ok", { headers: corsHeaders });
    try {
      // Deployed, a function sees /<name>; the local gateway forwards the same way.
      if (new URL(request.url).pathname.split("/").filter(Boolean).length > 1) {
        throw new BridgeError("not_found", "unknown route: this function answers at its name only");
      }
      if (request.method !== method) {
        throw new BridgeError(
          "method_not_allowed",
          `use ${method}, not ${request.method}`,
          undefined,
          { Allow: `${method}, OPTIONS` },
        );
      }
      const response = await withinDeadline(work(request));
      for (const [name, value] of Object.entries(corsHeaders)) response.headers.set(name, value);
      return response;
    } catch (error) {
      return errorResponse(error, corsHeaders);
    }
  };
}

async function withinDeadline<T>(work: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(
        new BridgeError(
          "timeout",
          `the request took longer than ${REQUEST_DEADLINE_MS / 1000} s: narrow it and retry`,
        ),
      );
    }, REQUEST_DEADLINE_MS);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The request's JSON body, validated by `schema`: 415 unless it is sent as application/json,
 * 413 over {@link MAX_BODY_BYTES}, 400 when it is not UTF-8 JSON or does not match the schema
 * (the problems by field path in `details`).
 *
 * @example
 * const input = await readJson(request, searchRequest);
 */
export async function readJson<Schema extends z.ZodType>(
  request: Request,
  schema: Schema,
): Promise<z.output<Schema>> {
  const type = request.headers.get("content-type")?.split(";")[0].trim().toLowerCase();
  if (type !== "application/json") {
    throw new BridgeError(
      "unsupported_media_type",
      `send the body as JSON with Content-Type: application/json (got ${type || "none"})`,
    );
  }
  const text = new TextDecoder("utf-8", { fatal: true });
  let body: unknown;
  try {
    body = JSON.parse(text.decode(await readCapped(request)));
  } catch (error) {
    if (error instanceof BridgeError) throw error;
    const reason = error instanceof SyntaxError ? error.message : "the body is not UTF-8";
    throw new BridgeError("invalid_input", `the body is not valid JSON (${reason})`);
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) throw invalidInput(parsed.error);
  return parsed.data;
}

async function readCapped(request: Request): Promise<Uint8Array> {
  const tooLarge = () =>
    new BridgeError("payload_too_large", `the body is over ${MAX_BODY_BYTES} bytes (1 MiB)`);
  if (Number(request.headers.get("content-length")) > MAX_BODY_BYTES) throw tooLarge();
  const chunks: Uint8Array[] = [];
  let size = 0;
  // Content-Length may be absent (chunked) or wrong: count what actually arrives.
  for await (const chunk of request.body ?? []) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw tooLarge();
    chunks.push(chunk);
  }
  const bytes = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.length;
  }
  return bytes;
}
