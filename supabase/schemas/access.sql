-- Who may read what. Foreign tables ignore RLS (docs/design.md § foreign tables ignore RLS), so
-- the bridge's own rules stand in for it, each written once here and read by every step:
--
-- - public.missions: a signed-in user reads the missions bridge.readable_mission_ids allows,
--   the rule both the select policy and the activity step ask;
-- - public.event_scopes and bridge.event_access: which events a signed-in user sees, applied on
--   the node by bridge.events_in_scope and each node's scope view;
-- - bridge.caller_bypasses_rls: the one answer to "does this caller bypass RLS?", which decides
--   who sees every event and every mission, and who may read a statement's plan.

create table public.missions (
  id         bigint primary key,
  outcome    text,
  owner      uuid default auth.uid(),
  created_at timestamptz not null default now()
);

create index missions_owner on public.missions (owner);

alter table public.missions enable row level security;

revoke all on public.missions from anon;
revoke all on public.missions from authenticated;
grant select, insert, update, delete on public.missions to authenticated;
grant all on public.missions to service_role;

-- The missions a signed-in caller may read: their own. A set of ids rather than a predicate on
-- one row: a predicate function must carry `set search_path` (the advisors require it), which
-- keeps PostgreSQL from inlining it, so a policy would call it once per mission and the index on
-- owner could not serve it. The set is read once per statement, through that index, and probed
-- as a hash. SECURITY DEFINER, so reading public.missions from within its own policy does not
-- apply the policy again.
create or replace function bridge.readable_mission_ids()
returns setof bigint
language sql
stable
security definer
set search_path = ''
rows 100
as $$
  select m.id from public.missions m where m.owner = (select auth.uid())
$$;

revoke all on function bridge.readable_mission_ids() from public, anon;
grant execute on function bridge.readable_mission_ids() to authenticated, service_role;

create policy "callers read the missions the rule allows" on public.missions
  for select to authenticated using (id in (select bridge.readable_mission_ids()));

create policy "owners add missions" on public.missions
  for insert to authenticated with check ((select auth.uid()) = owner);

create policy "owners change their missions" on public.missions
  for update to authenticated
  using ((select auth.uid()) = owner) with check ((select auth.uid()) = owner);

create policy "owners remove their missions" on public.missions
  for delete to authenticated using ((select auth.uid()) = owner);

-- public.event_scopes: who may see which events. Each row grants the events of one
-- pseudonymous user token, one agent or one site (location) to a Supabase user; RLS on this
-- table decides which grants a caller holds, and every events step reads the caller's grants
-- through it (bridge.events_in_scope below).
--
-- Operators manage it with ordinary SQL and policies. The policy below lets a signed-in user
-- hold the grants made to them; more permissive policies widen that (README: a team sees its
-- sites). Callers may only read their grants: inserting one would widen their own scope, so
-- only the owner and service_role write.

create table public.event_scopes (
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

create policy "users read their event scopes" on public.event_scopes
  for select to authenticated using ((select auth.uid()) = user_id);

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

create table bridge.event_access (
  only_row boolean primary key default true check (only_row),
  mode     text not null default 'scoped' check (mode in ('scoped', 'open'))
);

insert into bridge.event_access default values on conflict do nothing;

revoke all on bridge.event_access from public, anon, authenticated, service_role;
grant select on bridge.event_access to authenticated, service_role;
grant update (mode) on bridge.event_access to service_role;

-- The one rule for "does the caller bypass RLS?" (service_role does, and so does postgres). It asks
-- the role the caller acts as: the role set for the call (SET ROLE, as the Edge Functions and
-- PostgREST do), else the session's. Not current_user: inside a SECURITY DEFINER step
-- current_user is the step's owner, whoever called it, while the role setting still names the
-- caller. In an invoker step and in a view's scope functions both name the same role, so
-- invoker and definer steps get the same answer from this one function.
create or replace function bridge.caller_bypasses_rls()
returns boolean
language sql
stable
set search_path = ''
as $$
  select exists (select from pg_catalog.pg_roles r
                  where r.rolname = coalesce(nullif(current_setting('role'), 'none'), session_user)
                    and r.rolbypassrls)
$$;

revoke all on function bridge.caller_bypasses_rls() from public, anon;
grant execute on function bridge.caller_bypasses_rls() to authenticated, service_role;

-- Refuses explain_only to a caller that does not bypass RLS: plans name tables and show
-- arguments.
create or replace function bridge.check_may_explain()
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if not bridge.caller_bypasses_rls() then
    raise exception using errcode = '42501',
      message = 'only service_role may read the plan of a bridge statement';
  end if;
end;
$$;

revoke all on function bridge.check_may_explain() from public, anon;
grant execute on function bridge.check_may_explain() to authenticated, service_role;

-- bridge.events_in_scope: bridge.events as the caller may see them. This view gives the foreign
-- table RLS's effect, decided by the policies of public.event_scopes, with the filter executed
-- on the Timescale node.
--
-- How the two sides meet. The view reads the foreign table with its owner's rights and user
-- mapping (postgres_fdw connects as the current user, here the view's owner:
-- docs/design.md § user mapping of the current user), so callers need no grant on bridge.events. Functions called
-- in a view run as the caller, so the scope functions below read public.event_scopes under the
-- caller's RLS: the policies decide, nothing here restates them, and nobody can hand the view a
-- scope of their choosing. Each scope function sits in a scalar subquery, which the planner runs
-- once before the scan and passes to postgres_fdw as a parameter, so the node receives
--   ($1::boolean OR user_token = ANY ($2::text[]) OR agent_key = ANY ($3::text[])
--    OR location_key = ANY ($4::text[]))
-- and top-k, counts and grouping are computed within the scope, never filtered afterwards.
--
-- Not security_barrier: that keeps the view from being flattened into the RPC's query, and
-- then ORDER BY ... LIMIT and GROUP BY no longer reach the node. The scope filter is built of
-- built-in operators and parameters only, so postgres_fdw always ships it: rows outside the
-- scope never leave the node, and no local function ever sees them.
--
-- Both scope functions are PL/pgSQL rather than SQL: PL/pgSQL keeps their statements' plans for
-- the session, where a SQL function plans its body again on every call; on the benchmark's data
-- that cost about 1 ms per search.

-- Whether the caller sees every event: a caller that bypasses RLS does, and so does every caller
-- while bridge.event_access is 'open'.
create or replace function bridge.caller_sees_all_events()
returns boolean
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  return bridge.caller_bypasses_rls()
      or exists (select from bridge.event_access a where a.mode = 'open');
end;
$$;

revoke all on function bridge.caller_sees_all_events() from public, anon;
grant execute on function bridge.caller_sees_all_events() to authenticated, service_role;

-- The keys of one kind ('user_token', 'agent_key' or 'location_key') in the grants the caller
-- can read in public.event_scopes: RLS decides which those are. None for a caller who sees
-- every event, so service_role's calls carry no list of everyone's grants to the node.
create or replace function bridge.caller_event_keys(kind text)
returns text[]
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  if bridge.caller_sees_all_events() then
    return '{}'::text[];
  end if;
  return (select coalesce(array_agg(distinct s.key), '{}')
            from public.event_scopes s
           where s.kind = caller_event_keys.kind);
end;
$$;

revoke all on function bridge.caller_event_keys(text) from public, anon;
grant execute on function bridge.caller_event_keys(text) to authenticated, service_role;

-- The select that scopes a relation's events to the caller, on the relation aliased `e`: the one
-- definition of the scope, from which bridge.events_in_scope and each node's scope view
-- (bridge.lay_out_nodes) are made.
create or replace function bridge.events_in_scope_query(source text)
returns text
language sql
immutable
set search_path = ''
as $$
  select format(
    'select e.event_time, e.user_token, e.agent_key, e.device_key, e.location_key, e.event_type,
            e.data_payload_proc, e.event_embedding
       from %s e
      where (select bridge.caller_sees_all_events())
         or e.user_token = any ((select bridge.caller_event_keys(''user_token''))::text[])
         or e.agent_key = any ((select bridge.caller_event_keys(''agent_key''))::text[])
         or e.location_key = any ((select bridge.caller_event_keys(''location_key''))::text[])',
    source)
$$;

revoke all on function bridge.events_in_scope_query(text) from public, anon, authenticated, service_role;

do $$
begin
  execute 'create view bridge.events_in_scope as '
    || bridge.events_in_scope_query('bridge.events');
end;
$$;

revoke all on bridge.events_in_scope from public, anon, authenticated, service_role;
grant select on bridge.events_in_scope to authenticated, service_role;
