/**
 * The functions' answers as the rows the RPCs return (snake_case names, times as Dates), so a
 * test compares them with an oracle's rows column by column (tests/support/oracle.ts).
 */
import type {
  ActivityResponse,
  HistogramResponse,
  SearchResponse,
} from "../../functions/_shared/schemas.ts";

export const searchRows = (answer: SearchResponse) =>
  answer.results.map((r) => ({
    event_time: new Date(r.eventTime),
    user_token: r.userToken,
    agent_key: r.agentKey,
    device_key: r.deviceKey,
    location_key: r.locationKey,
    event_type: r.eventType,
    data_payload_proc: r.payload,
    distance: r.distance,
  }));

export const activityRows = (answer: Pick<ActivityResponse, "rows">) =>
  answer.rows.map((r) => ({
    mission_id: r.missionId,
    outcome: r.outcome,
    event_time: new Date(r.eventTime),
    agent_id: r.agentId,
    action: r.action,
    details: r.details,
  }));

export const histogramRows = (answer: HistogramResponse) =>
  answer.buckets.map((b) => ({
    bucket_start: new Date(b.bucketStart),
    event_type: b.eventType,
    events: b.events,
  }));
