-- public.event_scopes: who may see which events. Each row grants the events of one
-- pseudonymous user token, one agent or one site (location) to a Supabase user; row level
-- security on this table decides which grants a caller holds, and every events RPC reads the
-- caller's grants through it (bridge.events_in_scope, 20261126000520_events_in_scope.sql).
--
-- Operators manage it with ordinary SQL and policies. The policy below lets a signed-in user
-- hold the grants made to them; more permissive policies widen that (README: a team sees its
-- sites). Callers may only read their grants: inserting one would widen their own scope, so
-- only the owner and service_role write.

create table if not exists public.event_scopes (
  id         bigint generated always as identity primary key,
  user_id    uuid,
  kind       text not null check (kind in ('user_token', 'agent_key', 'location_key')),
  key        text not null,
  created_at timestamptz not null default now(),
  unique (user_id, kind, key)
);

comment on table public.event_scopes is
  'Grants of events to users: kind names the column of bridge.events that must equal key.';

alter table public.event_scopes enable row level security;

revoke all on public.event_scopes from anon, authenticated;
grant select on public.event_scopes to authenticated;
grant all on public.event_scopes to service_role;

drop policy if exists "users read their event scopes" on public.event_scopes;
create policy "users read their event scopes" on public.event_scopes
  for select to authenticated using ((select auth.uid()) = user_id);
