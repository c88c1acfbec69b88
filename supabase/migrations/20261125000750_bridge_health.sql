-- public.bridge_health: what an operator needs to know about the link, in one call: whether the
-- Timescale node answers, how long a round trip takes, and whether a top-k search is planned on
-- the node (the Remote SQL carries ORDER BY ... <=> and LIMIT; DESIGN.md fact 1). Served by the
-- bridge-health Edge Function; granted to service_role only.
--
-- SECURITY DEFINER because only the owner may read bridge.events, and postgres_fdw uses the
-- owner's user mapping (DESIGN.md fact 7). The plan is read with EXPLAIN, which plans without
-- contacting the node, so it is reported even while the node is down. enable_sort = off as in
-- bridge.nearest_events, so the plan is the one a search gets.

create or replace function public.bridge_health()
returns table (
  reachable boolean,
  round_trip_ms float8,
  problem text,
  search_pushed_down boolean,
  remote_sql text
)
language plpgsql
volatile
security definer
set search_path = ''
set enable_sort = off
as $$
declare
  started timestamptz := clock_timestamp();
  plan jsonb;
begin
  begin
    perform from bridge.events e limit 1;
    reachable := true;
    round_trip_ms := extract(epoch from clock_timestamp() - started) * 1000;
  exception when others then
    -- Only the primary message: the detail of a connection error names the host.
    reachable := false;
    problem := sqlerrm;
  end;

  execute 'explain (verbose, format json)
    select e.event_time from bridge.events e
     where e.event_embedding is not null
     order by e.event_embedding operator(extensions.<=>) $1
     limit 10'
    into plan
    using array_fill(1, array[768])::real[]::extensions.vector;

  -- Pushed down: the top node is the foreign scan itself, and its Remote SQL sorts by distance
  -- and limits. A local Limit or Sort above it means every row crosses the link.
  remote_sql := regexp_replace(plan -> 0 -> 'Plan' ->> 'Remote SQL', '''\[[^'']*\]''', '''[...]''', 'g');
  search_pushed_down := plan -> 0 -> 'Plan' ->> 'Node Type' = 'Foreign Scan'
    and remote_sql ~ 'ORDER BY .*OPERATOR\(extensions\.<=>\)'
    and remote_sql ~ 'LIMIT';
  return next;
end;
$$;

revoke all on function public.bridge_health() from public, anon, authenticated;
grant execute on function public.bridge_health() to service_role;
