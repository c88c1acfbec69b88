-- The export schema: the FDW contract. Only pseudonymous columns, one view per table; the
-- bridge's foreign tables mirror these views column for column and nothing else is readable
-- by the link role. Views are simple (auto-updatable), so filters, ORDER BY and LIMIT sent by
-- postgres_fdw reach the hypertable and its indexes unchanged.

create schema if not exists export;

create or replace view export.events as
  select event_time, user_token, agent_key, device_key, location_key, event_type,
         data_payload_proc, event_embedding
    from public.events;

create or replace view export.activity_log as
  select event_time, mission_id, agent_id, action, details
    from public.activity_log;
