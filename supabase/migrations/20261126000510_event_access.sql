-- bridge.event_access: whether a signed-in user's events are scoped (the default: they see the
-- events public.event_scopes grants them, and nothing without a grant) or open (every
-- signed-in user sees every event, for apps where that is intended). One row, changed by the
-- operator with ordinary SQL:
--
--   update bridge.event_access set mode = 'open';    -- or back to 'scoped'
--
-- Roles that bypass RLS (service_role) are never scoped. `npm run doctor` reports the mode.
-- Readable by the API roles, because the scope is read as the caller
-- (bridge.caller_sees_all_events); the mode is not a secret.

create table if not exists bridge.event_access (
  only_row boolean primary key default true check (only_row),
  mode     text not null default 'scoped' check (mode in ('scoped', 'open'))
);

insert into bridge.event_access default values on conflict do nothing;

revoke all on bridge.event_access from public, anon, authenticated, service_role;
grant select on bridge.event_access to authenticated, service_role;
grant update (mode) on bridge.event_access to service_role;
