/**
 * bridge-health: whether the Timescale node answers, the round trip in ms, and whether a vector
 * search is pushed down to it (read from the plan by public.bridge_health). For operators:
 * service role only.
 *
 * GET → { ok, timescale: { reachable, roundTripMs, problem }, search: { pushedDown, remoteSql } }.
 * A down node is a fact in a 200 answer, not an error: the check itself worked.
 */
import { authorize } from "../_shared/auth.ts";
import { callRpc } from "../_shared/db.ts";
import { endpoint } from "../_shared/http.ts";
import type { HealthResponse } from "../_shared/schemas.ts";

export default {
  fetch: endpoint("GET", async (request) => {
    const caller = await authorize(request, ["service_role"]);

    const [health] = await callRpc(caller, "bridge_health", {});

    return Response.json(
      {
        ok: health.reachable && health.search_pushed_down,
        timescale: {
          reachable: health.reachable,
          roundTripMs: health.round_trip_ms ?? null,
          problem: health.problem ?? null,
        },
        search: { pushedDown: health.search_pushed_down, remoteSql: health.remote_sql ?? null },
      } satisfies HealthResponse,
    );
  }),
};
