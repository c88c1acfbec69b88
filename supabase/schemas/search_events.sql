-- public.search_events: the k events nearest a query embedding, within the caller's scope and
-- the given filters, computed on the nodes. public.search_events is the RPC callers see and
-- runs as the caller; bridge.nearest_events is its step: it checks the arguments, builds the
-- statement and runs it, or EXPLAINs it (explain_only => true), so bridge_health, the doctor and
-- the benchmark read the plan of the very statement callers run. Plans name tables and show
-- arguments, so only a caller that bypasses RLS may ask for one (bridge.check_may_explain).
-- PostgreSQL allows EXPLAIN only in a volatile function, so the step is volatile; it still only
-- reads, and the RPC stays stable.
--
-- Each node that can hold matching rows (bridge.node_branches) gets a statement of its own on
-- its scope view, with its slice as a predicate: it runs ORDER BY <=> LIMIT k on its HNSW index,
-- so at most k rows per node cross, and the top k of those is the answer. The merge orders by
-- distance, then event_time: an order no branch gives, so the planner appends the branches and
-- sorts them (an Append, whose foreign scans run asynchronously, all nodes at once) rather than
-- merging them in order (a Merge Append, which asks the nodes one after another:
-- docs/design.md § async plan shapes). Incremental sort is off for the same reason: it would sort
-- a Merge Append of the branches by event_time. With several nodes the merge must sort, which
-- enable_sort = off prices as a disabled plan; the cost then passes jit_above_cost, and JIT
-- compiling would add more time than the whole call takes, so JIT is off.
--
-- With the default node alone there is one branch, and the statement is that node's top-k.

create or replace function bridge.nearest_events(
  q extensions.vector(768),
  k int,
  types text[],
  user_tok text,
  agent text,
  device text,
  location text,
  t_from timestamptz,
  t_to timestamptz,
  max_dist float8,
  explain_only boolean default false
) returns table (
  event_time timestamptz,
  user_token text,
  agent_key text,
  device_key text,
  location_key text,
  event_type text,
  data_payload_proc jsonb,
  distance float8,
  plan jsonb
)
language plpgsql
volatile
set search_path = ''
-- The top-k must be sorted on the node, where the HNSW index is. postgres_fdw pushes ORDER BY
-- only when its cost estimate favours it, which depends on statistics of the foreign table;
-- with no local sort allowed the pushed-down order is chosen whatever the statistics say.
set enable_sort = off
set enable_incremental_sort = off
set jit = off
as $$
declare
  filters text := '';
  branches text[];
  statement text;
begin
  if q is null then
    raise exception using errcode = '22023',
      message = 'query_embedding must be a vector of 768 numbers, got null';
  end if;
  if k is null or k not between 1 and 100 then
    raise exception using errcode = '22023',
      message = format('match_count must be between 1 and 100, got %s', coalesce(k::text, 'null'));
  end if;
  if t_from > t_to then
    raise exception using errcode = '22023',
      message = format('time_from (%s) must not be after time_to (%s)', t_from, t_to);
  end if;
  if max_dist < 0 or max_dist > 2 then
    raise exception using errcode = '22023',
      message = format('max_distance must be between 0 and 2 (cosine distance), got %s', max_dist);
  end if;
  if cardinality(types) = 0 then
    raise exception using errcode = '22023',
      message = 'event_types must name at least one type, or be null for all types';
  end if;

  -- Only the filters given reach the remote WHERE clause, as parameters:
  -- $1 q, $2 k, $3 types, $4 user_tok, $5 agent, $6 device, $7 location, $8 t_from, $9 t_to,
  -- $10 max_dist.
  if types is not null then filters := filters || ' and e.event_type = any($3)'; end if;
  if user_tok is not null then filters := filters || ' and e.user_token = $4'; end if;
  if agent is not null then filters := filters || ' and e.agent_key = $5'; end if;
  if device is not null then filters := filters || ' and e.device_key = $6'; end if;
  if location is not null then filters := filters || ' and e.location_key = $7'; end if;
  if t_from is not null then filters := filters || ' and e.event_time >= $8'; end if;
  if t_to is not null then filters := filters || ' and e.event_time < $9'; end if;
  if max_dist is not null then
    filters := filters || ' and (e.event_embedding operator(extensions.<=>) $1) <= $10';
  end if;

  -- The caller's scope is applied by each node's scope view (access.sql, nodes.sql).
  select array_agg(format(
           'select e.event_time, e.user_token, e.agent_key, e.device_key, e.location_key,
            e.event_type, e.data_payload_proc,
            e.event_embedding operator(extensions.<=>) $1 as distance
       from %s e
      where e.event_embedding is not null%s%s
      order by e.event_embedding operator(extensions.<=>) $1
      limit $2', b.source, filters, b.slice))
    into branches
    from bridge.node_branches('events_in_scope', 'e', t_from, t_to,
           -- The call's equality filters, by column: a list slice prunes on them.
           jsonb_strip_nulls(jsonb_build_object(
             'event_type', to_jsonb(types),
             'user_token', case when user_tok is not null then jsonb_build_array(user_tok) end,
             'agent_key', case when agent is not null then jsonb_build_array(agent) end,
             'device_key', case when device is not null then jsonb_build_array(device) end,
             'location_key', case when location is not null then jsonb_build_array(location) end)))
           b;
  statement := case when cardinality(branches) = 1 then branches[1]
    else 'select s.* from ((' || array_to_string(branches, ') union all (') || ')) s
      order by s.distance, s.event_time
      limit $2' end;

  if explain_only then
    perform bridge.check_may_explain();
    execute 'explain (verbose, format json) ' || statement into plan
      using q, k, types, user_tok, agent, device, location, t_from, t_to, max_dist;
    -- One row: the plan, and no event.
    return query select null::timestamptz, null::text, null::text, null::text, null::text,
      null::text, null::jsonb, null::float8, plan;
    return;
  end if;
  return query execute 'select s.*, null::jsonb from (' || statement || ') s'
    using q, k, types, user_tok, agent, device, location, t_from, t_to, max_dist;
end;
$$;

revoke all on function bridge.nearest_events(extensions.vector, int, text[], text, text, text, text, timestamptz, timestamptz, float8, boolean) from public, anon;
grant execute on function bridge.nearest_events(extensions.vector, int, text[], text, text, text, text, timestamptz, timestamptz, float8, boolean) to authenticated, service_role;

-- The RPC callers see: the step's rows without its plan column.
create or replace function public.search_events(
  query_embedding extensions.vector(768),
  match_count int default 10,
  event_types text[] default null,
  user_token text default null,
  agent_key text default null,
  device_key text default null,
  location_key text default null,
  time_from timestamptz default null,
  time_to timestamptz default null,
  max_distance float8 default null
) returns table (
  event_time timestamptz,
  user_token text,
  agent_key text,
  device_key text,
  location_key text,
  event_type text,
  data_payload_proc jsonb,
  distance float8
)
language sql
stable
security invoker
set search_path = ''
as $$
  select n.event_time, n.user_token, n.agent_key, n.device_key, n.location_key, n.event_type,
         n.data_payload_proc, n.distance
    from bridge.nearest_events(query_embedding, match_count, event_types, user_token, agent_key,
           device_key, location_key, time_from, time_to, max_distance) n
$$;

revoke all on function public.search_events(extensions.vector, int, text[], text, text, text, text, timestamptz, timestamptz, float8) from public, anon;
grant execute on function public.search_events(extensions.vector, int, text[], text, text, text, text, timestamptz, timestamptz, float8) to authenticated, service_role;

