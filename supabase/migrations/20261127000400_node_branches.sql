-- bridge.node_branches: which nodes a call must ask, what to read on each, and the slice each
-- must send as a predicate (issue 13, items 3 and 5).
--
-- A node is asked only when its slice can hold rows the call wants: its time range meets the
-- call's window, and its list of values meets the call's equality filter on the list column.
-- The default node holds what no other node's slice covers, so it is asked when that remainder
-- can match. Each node asked gets its own slice as a predicate (the default node: outside every
-- other slice), so rows that sit on a node outside its slice, such as a day copied to a cold
-- node before the boundary moves, are never returned twice.
--
-- With the default node alone there is one branch, the whole table and no predicate: the
-- statement is the one sent before there were nodes. When nothing can match (an empty window),
-- the default node's branch comes back with a predicate that is false, so the statement keeps
-- its shape and the planner asks no node at all.
--
-- SECURITY DEFINER: callers may not read the catalog. Reading it holds a lock on it until the end
-- of the caller's transaction, which bridge.attach_node, detach_node and move_boundary wait for.

-- The predicate that holds inside a sliced node's slice, on a relation aliased `alias`: built-in
-- operators and constants only, so postgres_fdw ships it.
create or replace function bridge.slice_predicate(n bridge.nodes, alias text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when n.list_column is not null then
      format('%I.%I = any (%L::text[])', alias, n.list_column, n.list_values)
    when lower(n.time_range) is null then
      format('%I.event_time < %L::timestamptz', alias, upper(n.time_range))
    when upper(n.time_range) is null then
      format('%I.event_time >= %L::timestamptz', alias, lower(n.time_range))
    else format('%I.event_time >= %L::timestamptz and %I.event_time < %L::timestamptz',
      alias, lower(n.time_range), alias, upper(n.time_range))
  end
$$;

revoke all on function bridge.slice_predicate(bridge.nodes, text) from public, anon, authenticated, service_role;

create or replace function bridge.node_branches(
  relation text,
  alias text,
  time_from timestamptz,
  time_to timestamptz,
  equal_to jsonb default '{}'
) returns table (node text, source text, slice text)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  base text := case relation when 'events_in_scope' then 'events' else relation end;
  window_range tstzrange := case when time_from >= time_to then 'empty'
                                 else tstzrange(time_from, time_to, '[)') end;
  list_column text := (select b.list_column from bridge.nodes b
                        where b.list_column is not null limit 1);
  -- The values of list_column the call asks for, or null when it does not filter on it.
  wanted text[];
  -- The times no sliced node holds: the default node's share of a tiered layout.
  default_times tstzmultirange;
  outside text;
  n bridge.nodes;
begin
  if relation is null or relation not in ('events_in_scope', 'activity_log') then
    raise exception using errcode = '22023',
      message = format('relation must be events_in_scope or activity_log, got %s', relation);
  end if;
  if to_regclass(format('bridge.%I', base || '_at_default')) is null then
    return query select 'default', format('bridge.%I', relation), '';
    return;
  end if;

  if equal_to ? list_column then
    wanted := array(select jsonb_array_elements_text(equal_to -> list_column));
  end if;
  select tstzmultirange(tstzrange(null, null)) - coalesce(range_agg(b.time_range), '{}'),
         string_agg(format(' and not (%s)', bridge.slice_predicate(b, alias)), '' order by b.name)
    into default_times, outside
    from bridge.nodes b where b.name <> 'default';

  for n in select * from bridge.nodes b order by b.name = 'default', b.name loop
    continue when n.time_range is not null and not n.time_range && window_range;
    continue when n.list_values is not null and not n.list_values && wanted;
    if n.name = 'default' then
      continue when list_column is null and not default_times && window_range;
      continue when wanted is not null and not exists (select from unnest(wanted) w
                                 where not exists (select from bridge.nodes b
                                                    where w = any (b.list_values)));
    end if;
    node := n.name;
    source := format('bridge.%I', relation || '_at_' || n.name);
    slice := case when n.name = 'default' then outside
                  else ' and ' || bridge.slice_predicate(n, alias) end;
    return next;
  end loop;

  if node is null then
    return query select 'default', format('bridge.%I', relation || '_at_default'), ' and false';
  end if;
end;
$$;

revoke all on function bridge.node_branches(text, text, timestamptz, timestamptz, jsonb) from public, anon;
grant execute on function bridge.node_branches(text, text, timestamptz, timestamptz, jsonb) to authenticated, service_role;
