/**
 * The bridge's one error type and its one mapping to HTTP. Every failure a caller can see is a
 * {@link BridgeError}; {@link errorResponse} turns it, or anything unexpected, into the JSON
 * body `{ "error": { "code", "message", "details"? } }` with the status its code implies.
 *
 * No Deno APIs here: the app-side client (client.ts) imports this module too.
 */
import { z } from "zod";

/** Each code with the HTTP status it is answered with. */
const statusByCode = {
  invalid_input: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
  unavailable: 503,
  timeout: 504,
} as const;

/** What went wrong, as a stable machine-readable word. */
export type ErrorCode = keyof typeof statusByCode;

/** The JSON body of every error response: the contract shared by the functions and the client. */
export const errorBody = z.object({
  error: z.object({
    code: z.enum(Object.keys(statusByCode) as [ErrorCode, ...ErrorCode[]]),
    message: z.string(),
    details: z.unknown().optional(),
  }),
});

/** The JSON body of every error response. */
export type ErrorBody = z.infer<typeof errorBody>;

/**
 * An error a caller should see: a code, a message saying what was wrong and what to do, and
 * optional structured details (for invalid input, the problems by field path).
 *
 * @example
 * throw new BridgeError("invalid_input", "embedding must have 768 numbers, got 767");
 */
export class BridgeError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "BridgeError";
  }

  /** The HTTP status this error is answered with. */
  get status(): number {
    return statusByCode[this.code];
  }

  /** The error as the JSON body of a response. */
  toJSON(): ErrorBody {
    const { code, message, details } = this;
    return { error: details === undefined ? { code, message } : { code, message, details } };
  }
}

/**
 * The response for any thrown value. A {@link BridgeError} is answered as it says; anything else
 * is logged server-side and answered with a bare 500, so no stack trace, SQL text or connection
 * string ever reaches a caller.
 *
 * @example
 * try { return await work(); } catch (error) { return errorResponse(error, corsHeaders); }
 */
export function errorResponse(error: unknown, headers: HeadersInit = {}): Response {
  const known = error instanceof BridgeError ? error : unexpected(error);
  return Response.json(known.toJSON(), {
    status: known.status,
    headers: { ...Object.fromEntries(new Headers(headers)), ...known.headers },
  });
}

/** One problem with a request: where (a field path such as `filters.from`) and what. */
export interface InputProblem {
  path: string;
  message: string;
}

// Enough to fix a request; a 768-element vector of strings would otherwise list 768 problems.
const MAX_PROBLEMS = 20;

/**
 * The 400 for a request that does not match its schema. The message names the first problem;
 * `details` lists up to 20, each by field path.
 *
 * @example
 * const parsed = searchRequest.safeParse(body);
 * if (!parsed.success) throw invalidInput(parsed.error);
 */
export function invalidInput(error: z.ZodError): BridgeError {
  const problems: InputProblem[] = error.issues.map((issue) => ({
    path: fieldPath(issue.path),
    message: issue.message,
  }));
  const [first] = problems;
  const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : "";
  return new BridgeError(
    "invalid_input",
    `${first.path}: ${first.message}${more}`,
    problems.slice(0, MAX_PROBLEMS),
  );
}

/** `["filters", "eventTypes", 0]` as `filters.eventTypes[0]`; the empty path is the body. */
function fieldPath(path: PropertyKey[]): string {
  const text = path.map((part) => typeof part === "number" ? `[${part}]` : `.${String(part)}`)
    .join("").replace(/^\./, "");
  return text || "body";
}

function unexpected(error: unknown): BridgeError {
  console.error("unexpected error:", error);
  return new BridgeError("internal", "the function failed unexpectedly; it has been logged");
}
