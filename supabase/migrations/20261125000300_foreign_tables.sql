-- Foreign tables for the Timescale node's export views (sql/timescale/02_export.sql), column for
-- column. Declared here rather than imported, because a migration must not need the node to be
-- reachable or configured. Readable only by the owner: callers go through the RPC functions.

create foreign table if not exists bridge.events (
  event_time        timestamptz not null,
  user_token        text not null,
  agent_key         text not null,
  device_key        text not null,
  location_key      text not null,
  event_type        text not null,
  data_payload_proc jsonb not null,
  event_embedding   extensions.vector(768)
) server events_ts options (schema_name 'export', table_name 'events');

revoke all on bridge.events from public, anon, authenticated, service_role;

create foreign table if not exists bridge.activity_log (
  event_time timestamptz not null,
  mission_id bigint not null,
  agent_id   text not null,
  action     text not null,
  details    jsonb not null
) server events_ts options (schema_name 'export', table_name 'activity_log');

revoke all on bridge.activity_log from public, anon, authenticated, service_role;
