/**
 * mission-activity: the activity of the given missions, newest first, for the missions the
 * caller may see (row level security on public.missions decides, in public.mission_activity).
 *
 * POST { missionIds: int[1..1000], from?, to?, actions?, limit?: 1..1000, before? }
 * → { rows, nextCursor }. Pass nextCursor as `before` for the next page; null means last page.
 * A page holds at most `limit` rows; the cursor names the row it ended on, so however many rows
 * share a timestamp, the next page starts right after it.
 */
import { authorize } from "../_shared/auth.ts";
import { callRpc } from "../_shared/db.ts";
import { endpoint, readJson } from "../_shared/http.ts";
import { nextCursor, parseCursor } from "../_shared/page.ts";
import { activityRequest, type ActivityResponse } from "../_shared/schemas.ts";

export default {
  fetch: endpoint("POST", async (request) => {
    const caller = await authorize(request, ["authenticated", "service_role"]);
    const input = await readJson(request, activityRequest);
    const before = input.before ? parseCursor(input.before) : undefined;

    const found = await callRpc(caller, "mission_activity", {
      mission_ids: input.missionIds,
      time_from: input.from,
      time_to: input.to,
      actions: input.actions,
      max_rows: input.limit,
      before: before?.time,
      before_position: before?.position,
    });

    const rows = found.map((row) => ({
      missionId: row.mission_id,
      outcome: row.outcome,
      eventTime: row.event_time,
      agentId: row.agent_id,
      action: row.action,
      details: row.details,
    }));
    return Response.json(
      { rows, nextCursor: nextCursor(found, input.limit) } satisfies ActivityResponse,
    );
  }),
};
