/**
 * The bridge for apps: typed calls to the Edge Functions over `supabase.functions.invoke`,
 * checked with the same schemas the functions use. Import it from an app (Deno, or any bundler
 * that resolves `zod`):
 *
 * ```ts
 * import { createBridgeClient } from "./functions/_shared/client.ts";
 * const bridge = createBridgeClient(supabase);
 * const { results } = await bridge.searchEvents({ embedding, k: 5 });
 * ```
 */
import type { SupabaseClient } from "@supabase/supabase-js";
import type { z } from "zod";
import { BridgeError, errorBody, invalidInput } from "./errors.ts";
import {
  activityRequest,
  activityResponse,
  histogramRequest,
  histogramResponse,
  searchRequest,
  searchResponse,
} from "./schemas.ts";

export { BridgeError };
export type * from "./schemas.ts";

/** What the client needs of a supabase-js client: its Edge Functions API. */
export type FunctionsInvoker = Pick<SupabaseClient, "functions">;

/** The bridge's calls, as returned by {@link createBridgeClient}. */
export interface BridgeClient {
  /** The `k` events nearest an embedding (POST events-search), nearest first. */
  searchEvents(request: z.input<typeof searchRequest>): Promise<z.output<typeof searchResponse>>;
  /** One page of the caller's missions' activity (POST mission-activity), newest first. */
  missionActivity(
    request: z.input<typeof activityRequest>,
  ): Promise<z.output<typeof activityResponse>>;
  /** Event counts per time bucket and type (POST event-histogram). */
  eventHistogram(
    request: z.input<typeof histogramRequest>,
  ): Promise<z.output<typeof histogramResponse>>;
}

/**
 * A typed bridge client on a supabase-js client, which supplies the URL, the publishable key
 * and the signed-in user's session (or, on a server, the secret key). A request that fails its schema is refused here with the {@link BridgeError} the
 * function would answer; an error response becomes a {@link BridgeError} with its code.
 *
 * @example
 * const supabase = createClient(SUPABASE_URL, SUPABASE_PUBLISHABLE_KEY);
 * await supabase.auth.signInWithPassword({ email, password });
 * const bridge = createBridgeClient(supabase);
 * const page = await bridge.missionActivity({ missionIds: [10001], limit: 50 });
 * const next = await bridge.missionActivity({ missionIds: [10001], before: page.nextCursor! });
 */
export function createBridgeClient(supabase: FunctionsInvoker): BridgeClient {
  const call = <Request extends z.ZodType<Record<string, unknown>>, Response extends z.ZodType>(
    name: string,
    request: Request,
    response: Response,
  ) =>
  async (input: z.input<Request>): Promise<z.output<Response>> => {
    const body = request.safeParse(input);
    if (!body.success) throw invalidInput(body.error);
    const { data, error } = await supabase.functions.invoke(name, { body: body.data });
    if (error) throw await asBridgeError(error);
    const answer = response.safeParse(data);
    if (!answer.success) {
      throw new BridgeError("internal", `${name} answered in an unexpected shape`, answer.error);
    }
    return answer.data;
  };
  return {
    searchEvents: call("events-search", searchRequest, searchResponse),
    missionActivity: call("mission-activity", activityRequest, activityResponse),
    eventHistogram: call("event-histogram", histogramRequest, histogramResponse),
  };
}

// supabase-js reports an HTTP error with the Response as `context`; anything without one is a
// network failure.
async function asBridgeError(error: Error & { context?: unknown }): Promise<BridgeError> {
  if (error.context instanceof Response) {
    const body = errorBody.safeParse(await error.context.json().catch(() => undefined));
    if (body.success) {
      const { code, message, details } = body.data.error;
      return new BridgeError(code, message, details);
    }
    return new BridgeError("internal", `the function answered HTTP ${error.context.status}`);
  }
  return new BridgeError("unavailable", `could not reach the function: ${error.message}`);
}
