-- public.mission_activity: the activity of the given missions, newest first, in pages that cannot
-- lose a row. public.mission_activity runs as the caller, so RLS on public.missions decides
-- which requested ids are visible; bridge.mission_activity_rows is the narrow definer step that
-- asks the nodes for those ids only (one round trip per node: ask_nodes.sql) and checks them
-- again against the rule, so calling it directly cannot widen what a caller sees. The ids reach the node as
-- mission_id = any(...), never as a join (docs/design.md § local filters pull the whole table).
--
-- Rows come in a total order, newest first and then by (mission_id, agent_id, action, details),
-- and each carries tie_position, its 1-based place among the rows of its event_time in that
-- order. The next page is asked for with before => the last row's event_time and
-- before_position => its tie_position: the rows at exactly `before` after that place, then the
-- older ones. The node applies it as event_time <= before ... order by ... offset
-- before_position. `before` without before_position skips every row at `before`.
--
-- Each node that can hold rows in the call's window (bridge.node_branches) gets a statement of
-- its own with its slice as a predicate, and the pages are merged here in the same total order.
-- A node's page is max_rows long, plus before_position when the cursor skips rows at `before`:
-- the OFFSET applies to the merged rows, so each node must send every row that could be among
-- them.
--
-- For up to 50 missions the node is asked to order by an expression equal to event_time that
-- its event_time index cannot serve, so it reads those missions' (mission_id, event_time) index
-- ranges instead of walking the whole table back in time
-- (docs/design.md § the node's best plan): on 1M activity rows, the newest 100 rows of 10
-- missions took 2.4 ms this way and 40 ms walking back; of 100 missions, 17 ms this way and 7 ms
-- walking back.

-- The argument rules both steps enforce: the API step before it reads anything, the definer step
-- for direct calls.
create or replace function bridge.check_activity_arguments(
  mission_ids bigint[],
  time_from timestamptz,
  time_to timestamptz,
  max_rows int,
  before timestamptz,
  before_position int
) returns void
language plpgsql
immutable
set search_path = ''
as $$
begin
  if cardinality(mission_ids) is null or cardinality(mission_ids) not between 1 and 1000 then
    raise exception using errcode = '22023',
      message = format('mission_ids must hold 1 to 1000 ids, got %s', coalesce(cardinality(mission_ids), 0));
  end if;
  if max_rows is null or max_rows not between 1 and 1000 then
    raise exception using errcode = '22023',
      message = format('max_rows must be between 1 and 1000, got %s', coalesce(max_rows::text, 'null'));
  end if;
  if time_from > time_to then
    raise exception using errcode = '22023',
      message = format('time_from (%s) must not be after time_to (%s)', time_from, time_to);
  end if;
  if before_position < 0 then
    raise exception using errcode = '22023',
      message = format('before_position must be 0 or more (the last row''s tie_position), got %s', before_position);
  end if;
  if before_position is not null and before is null then
    raise exception using errcode = '22023',
      message = 'before_position needs before: pass the last row''s event_time and tie_position';
  end if;
end;
$$;

revoke all on function bridge.check_activity_arguments(bigint[], timestamptz, timestamptz, int, timestamptz, int) from public, anon;
grant execute on function bridge.check_activity_arguments(bigint[], timestamptz, timestamptz, int, timestamptz, int) to authenticated, service_role;

-- The definer step: reads the activity of the requested missions the caller may read (the rule
-- bridge.readable_mission_ids, access.sql, or all of them for a caller that bypasses RLS). Each
-- node that can hold rows in the call's window (bridge.node_branches) is asked through
-- bridge.ask_nodes for mission_id = any(the visible missions), the filters, its slice, the
-- newest-first order and a LIMIT, every caller value a literal; only the page crosses. With one
-- node the rows keep the node's order, OFFSET included; with several the pages are merged here.
-- explain_only returns the statement each node is sent: {"Nodes": [{"Node", "Server",
-- "Relation", "Remote SQL"}]}, the relation being the foreign table that names the node's.
create or replace function bridge.mission_activity_rows(
  mission_ids bigint[],
  time_from timestamptz,
  time_to timestamptz,
  actions text[],
  max_rows int,
  before timestamptz,
  before_position int,
  explain_only boolean default false
) returns table (
  mission_id bigint,
  event_time timestamptz,
  agent_id bigint,
  action text,
  details jsonb,
  tie_position int,
  plan jsonb
)
language plpgsql
volatile
security definer
set search_path = ''
-- Times and arrays are written into the statements as literals: ISO, which every node reads
-- the same way whatever its DateStyle.
set datestyle = 'ISO, YMD'
as $$
declare
  caller_bypasses_rls boolean := bridge.caller_bypasses_rls();
  visible bigint[];
  filters text := '';
  page int := max_rows;
  skipped text := '';
  newest_first text := 'a.event_time';
  nodes jsonb;
  previous_time timestamptz;
begin
  perform bridge.check_activity_arguments(mission_ids, time_from, time_to, max_rows, before,
    before_position);
  if explain_only then
    perform bridge.check_may_explain();
  end if;

  -- The requested missions this caller may read, by the rule, or all of them for a caller that
  -- bypasses RLS.
  select array_agg(m.id) into visible
    from public.missions m
   where m.id = any(mission_ids)
     and (m.id in (select bridge.readable_mission_ids()) or caller_bypasses_rls);
  if visible is null and not explain_only then
    return;
  end if;

  if time_from is not null then
    filters := filters || format(' and a.event_time >= %L::timestamptz', time_from);
  end if;
  if time_to is not null then
    filters := filters || format(' and a.event_time < %L::timestamptz', time_to);
  end if;
  if actions is not null then
    filters := filters || format(' and a.action = any (%L::text[])', actions);
  end if;
  if before is not null and before_position is null then
    filters := filters || format(' and a.event_time < %L::timestamptz', before);
  elsif before is not null then
    -- The rows at exactly `before` come first in this order: skip the ones already returned.
    filters := filters || format(' and a.event_time <= %L::timestamptz', before);
    skipped := format(' offset %s', before_position);
    page := max_rows + before_position;
  end if;

  -- For a few missions, an order no node index gives makes the node read those missions'
  -- (mission_id, event_time) index ranges instead of walking back in time (docs/design.md § the
  -- node's best plan).
  if cardinality(visible) <= 50 then
    newest_first := 'date_bin(''1 microsecond'', a.event_time, ''2000-01-01 00:00+00'')';
  end if;

  with branch as (
    select b.node, n.server, b.source, b.slice, count(*) over () as branches
      from bridge.node_branches('activity_log', 'a', time_from,
             least(time_to, before + case when before_position is null then interval '0'
                                          else interval '1 microsecond' end)) b
      join bridge.nodes n on n.name = b.node)
  select jsonb_agg(jsonb_build_object('Node', b.node, 'Server', b.server, 'Relation', b.source,
           'Remote SQL', format(
           'select coalesce(jsonb_agg(r), ''[]'') from (
  select a.mission_id, a.event_time, a.agent_id, a.action, a.details
    from %s a
   where a.mission_id = any (%L::bigint[])%s%s
   order by %s desc, a.mission_id, a.agent_id, a.action, a.details
   limit %s) r',
           bridge.remote_relation(b.source::regclass), coalesce(visible, '{}'), filters, b.slice,
           newest_first, case when b.branches = 1 then max_rows || skipped else page::text end))
           order by b.node)
    into nodes
    from branch b;

  if explain_only then
    -- One row: the statements, and no activity.
    return query select null::bigint, null::timestamptz, null::bigint, null::text, null::jsonb,
      null::int, jsonb_build_object('Nodes', nodes);
    return;
  end if;

  -- Read in the merged order, so each row's place among its event_time's rows is counted here.
  -- Into the result's own columns, which plpgsql_check can type.
  for mission_id, event_time, agent_id, action, details in
    select r.mission_id, r.event_time, r.agent_id, r.action, r.details
      from bridge.ask_nodes(
             array(select (x ->> 'Server')::name from jsonb_array_elements(nodes) x),
             array(select x ->> 'Remote SQL' from jsonb_array_elements(nodes) x)) answers,
           jsonb_array_elements(answers.answer) with ordinality as row_json(value, place),
           jsonb_to_record(row_json.value) as r(mission_id bigint, event_time timestamptz,
             agent_id bigint, action text, details jsonb)
     order by case when jsonb_array_length(nodes) = 1 then row_json.place end,
              r.event_time desc, r.mission_id, r.agent_id, r.action, r.details
     limit max_rows
    offset case when jsonb_array_length(nodes) = 1 then 0 else coalesce(before_position, 0) end
  loop
    tie_position := case
      when event_time = previous_time then tie_position + 1
      when event_time = before then before_position + 1
      else 1
    end;
    previous_time := event_time;
    return next;
  end loop;
end;
$$;

revoke all on function bridge.mission_activity_rows(bigint[], timestamptz, timestamptz, text[], int, timestamptz, int, boolean) from public, anon;
grant execute on function bridge.mission_activity_rows(bigint[], timestamptz, timestamptz, text[], int, timestamptz, int, boolean) to authenticated, service_role;

-- The outcome of each returned row's mission, by primary key: a join makes the planner read every
-- mission (hash join, 0.5 ms whatever the call), or every requested one a third time with
-- `m.id = any(visible)` (as much for 1000 ids). Every row's mission is in `visible`, so the
-- caller may see it: the subquery finds it.
create or replace function public.mission_activity(
  mission_ids bigint[],
  time_from timestamptz default null,
  time_to timestamptz default null,
  actions text[] default null,
  max_rows int default 100,
  before timestamptz default null,
  before_position int default null
) returns table (
  mission_id bigint,
  outcome text,
  event_time timestamptz,
  agent_id bigint,
  action text,
  details jsonb,
  tie_position int
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  visible bigint[];
begin
  perform bridge.check_activity_arguments(mission_ids, time_from, time_to, max_rows, before,
    before_position);

  -- As the caller: RLS on public.missions leaves only the missions this caller may see.
  select array_agg(m.id) into visible from public.missions m where m.id = any(mission_ids);
  if visible is null then
    return;
  end if;

  return query
    select a.mission_id, (select m.outcome from public.missions m where m.id = a.mission_id),
           a.event_time, a.agent_id, a.action, a.details, a.tie_position
      from bridge.mission_activity_rows(visible, time_from, time_to, actions, max_rows, before,
             before_position) a
     order by a.event_time desc, a.tie_position;
end;
$$;

revoke all on function public.mission_activity(bigint[], timestamptz, timestamptz, text[], int, timestamptz, int) from public, anon;
grant execute on function public.mission_activity(bigint[], timestamptz, timestamptz, text[], int, timestamptz, int) to authenticated, service_role;

