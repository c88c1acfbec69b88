-- bridge.events_in_scope: bridge.events as the caller may see them. Foreign tables ignore RLS
-- (DESIGN.md fact 6); this view gives them RLS's effect, decided by the policies of
-- public.event_scopes, with the filter executed on the Timescale node.
--
-- How the two sides meet. The view reads the foreign table with its owner's rights and user
-- mapping (postgres_fdw connects as the view's owner, as it does in a SECURITY DEFINER step,
-- DESIGN.md fact 7), so callers need no grant on bridge.events. Functions called in a view run
-- as the caller, so the scope functions below read public.event_scopes under the caller's RLS:
-- the policies decide, nothing here restates them, and nobody can hand the view a scope of
-- their choosing. Each scope function sits in a scalar subquery, which the planner runs once
-- before the scan and passes to postgres_fdw as a parameter, so the node receives
--   ($1::boolean OR user_token = ANY ($2::text[]) OR agent_key = ANY ($3::text[])
--    OR location_key = ANY ($4::text[]))
-- and top-k, counts and grouping are computed within the scope, never filtered afterwards.
--
-- Not security_barrier: that keeps the view from being flattened into the RPC's query, and
-- then ORDER BY ... LIMIT and GROUP BY no longer reach the node. The scope filter is built of
-- built-in operators and parameters only, so postgres_fdw always ships it: rows outside the
-- scope never leave the node, and no local function ever sees them.

-- Both scope functions are PL/pgSQL rather than SQL: PL/pgSQL keeps their statements' plans for
-- the session, where a SQL function plans its body again on every call; on the benchmark's data
-- that cost about 1 ms per search.

-- Whether the caller sees every event: roles that bypass RLS (service_role) do, and so does
-- every caller while bridge.event_access is 'open'.
create or replace function bridge.caller_sees_all_events()
returns boolean
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  return exists (select from pg_catalog.pg_roles r
                  where r.rolname = current_user and r.rolbypassrls)
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
    return '{}';
  end if;
  return (select coalesce(array_agg(distinct s.key), '{}')
            from public.event_scopes s
           where s.kind = caller_event_keys.kind);
end;
$$;

revoke all on function bridge.caller_event_keys(text) from public, anon;
grant execute on function bridge.caller_event_keys(text) to authenticated, service_role;

create or replace view bridge.events_in_scope as
  select e.event_time, e.user_token, e.agent_key, e.device_key, e.location_key, e.event_type,
         e.data_payload_proc, e.event_embedding
    from bridge.events e
   where (select bridge.caller_sees_all_events())
      or e.user_token = any ((select bridge.caller_event_keys('user_token'))::text[])
      or e.agent_key = any ((select bridge.caller_event_keys('agent_key'))::text[])
      or e.location_key = any ((select bridge.caller_event_keys('location_key'))::text[]);

revoke all on bridge.events_in_scope from public, anon, authenticated, service_role;
grant select on bridge.events_in_scope to authenticated, service_role;
