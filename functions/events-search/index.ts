/**
 * events-search: the k events nearest to an embedding by cosine distance, optionally filtered,
 * found on the Timescale node by public.search_events.
 *
 * POST { embedding: number[768], k?: 1..100, filters?: { eventTypes?, userToken?, agentKey?,
 * deviceKey?, locationKey?, from?, to?, maxDistance? } } → { results, count }, nearest first.
 */
import { authorize } from "../_shared/auth.ts";
import { callRpc } from "../_shared/db.ts";
import { endpoint, readJson } from "../_shared/http.ts";
import { searchRequest, type SearchResponse } from "../_shared/schemas.ts";

export default {
  fetch: endpoint("POST", async (request) => {
    const caller = await authorize(request, ["authenticated", "service_role"]);
    const { embedding, k, filters = {} } = await readJson(request, searchRequest);

    const rows = await callRpc(caller, "search_events", {
      query_embedding: `[${embedding.join(",")}]`,
      match_count: k,
      event_types: filters.eventTypes,
      user_token: filters.userToken,
      agent_key: filters.agentKey,
      device_key: filters.deviceKey,
      location_key: filters.locationKey,
      time_from: filters.from,
      time_to: filters.to,
      max_distance: filters.maxDistance,
    });

    const results = rows.map((row) => ({
      eventTime: row.event_time,
      userToken: row.user_token,
      agentKey: row.agent_key,
      deviceKey: row.device_key,
      locationKey: row.location_key,
      eventType: row.event_type,
      payload: row.data_payload_proc,
      distance: row.distance,
    }));
    return Response.json({ results, count: results.length } satisfies SearchResponse);
  }),
};
