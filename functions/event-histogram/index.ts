/**
 * event-histogram: event counts per time bucket and event type over [from, to), grouped on the
 * Timescale node by public.event_histogram. Buckets start at `from`.
 *
 * POST { bucket: "5 minutes" | "1 hour" | ..., from, to, eventTypes? } → { buckets }; at most
 * 10,000 buckets per request.
 */
import { authorize } from "../_shared/auth.ts";
import { callRpc } from "../_shared/db.ts";
import { endpoint, readJson } from "../_shared/http.ts";
import { histogramRequest, type HistogramResponse } from "../_shared/schemas.ts";

export default {
  fetch: endpoint("POST", async (request) => {
    const caller = await authorize(request, ["authenticated", "service_role"]);
    const input = await readJson(request, histogramRequest);

    const rows = await callRpc(caller, "event_histogram", {
      bucket: input.bucket,
      time_from: input.from,
      time_to: input.to,
      event_types: input.eventTypes,
    });

    const buckets = rows.map((row) => ({
      bucketStart: row.bucket_start,
      eventType: row.event_type,
      events: row.events,
    }));
    return Response.json({ buckets } satisfies HistogramResponse);
  }),
};
