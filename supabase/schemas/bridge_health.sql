-- public.bridge_health: whether the nodes answer, and whether the search is pushed down, for
-- service_role (the bridge-health function and `npm run doctor` ask it).
--
-- Reachability is a read of bridge.events, which with several nodes reads every node. "Pushed
-- down" is read from the plan of the search callers run (bridge.nearest_events, unfiltered
-- top-10): it holds when every node's statement sorts by distance and limits on the node. With
-- several nodes the plan's top is the merge of their top-k (a Limit and a Sort over an Append),
-- which is expected; a node whose statement lacks ORDER BY or LIMIT sends every row.
-- remote_sql lists each node's statement, one per line, with the query vector elided.

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
as $$
declare
  plan jsonb;
  started timestamptz := clock_timestamp();
  statements text[];
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

  -- EXPLAIN plans without contacting the nodes, so this is reported even while one is down.
  select n.plan into plan
    from bridge.nearest_events(array_fill(1, array[768])::real[]::extensions.vector, 10,
           null, null, null, null, null, null, null, null, explain_only => true) n;

  select array_agg(regexp_replace(s #>> '{}', '''\[[^'']*\]''', '''[...]''', 'g'))
    into statements
    from jsonb_path_query(plan, 'strict $.**."Remote SQL"') s;
  remote_sql := array_to_string(statements, E'\n');
  search_pushed_down := cardinality(statements) > 0
    and not exists (select from unnest(statements) s
                     where s !~ 'ORDER BY .*OPERATOR\(extensions\.<=>\)' or s !~ 'LIMIT');
  return next;
end;
$$;

revoke all on function public.bridge_health() from public, anon, authenticated;
grant execute on function public.bridge_health() to service_role;

