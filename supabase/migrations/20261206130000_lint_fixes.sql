-- What `supabase db lint` (plpgsql_check, level warning) found in the PL/pgSQL functions, fixed;
-- each function is otherwise as it was.
--
-- bridge.caller_event_keys: its empty answer is typed text[], as the function returns.
-- bridge.nearest_events, bridge.event_counts: the explain_only row is returned whole by a query,
-- its data columns null, rather than by RETURN NEXT over result columns never assigned.
-- bridge.mission_activity_rows: the merged page is read into the result's columns, which have
-- types, instead of a record typed only by the dynamic statement at run time.
--
-- The lint needs the plpgsql_check extension available: hosted projects offer it, and the CLI
-- creates it for the check in a transaction it rolls back.

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

  -- The caller's scope is applied by each node's scope view (20261127000200_node_layout.sql).
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

create or replace function bridge.event_counts(
  bucket interval,
  time_from timestamptz,
  time_to timestamptz,
  event_types text[],
  explain_only boolean default false
) returns table (
  bucket_start timestamptz,
  event_type text,
  events bigint,
  plan jsonb
)
language plpgsql
volatile
set search_path = ''
-- The grouping belongs on the node. postgres_fdw pushes an aggregate only when its estimates
-- favour it; with no local way to group, the pushed-down GROUP BY is chosen whatever the
-- statistics of the foreign table say (see bridge.nearest_events).
set enable_hashagg = off
set enable_sort = off
set jit = off
as $$
declare
  max_buckets constant int := 10000;
  bucket_count numeric;
  filters text := '';
  branches text[];
  statement text;
begin
  if bucket is null or bucket <> all (bridge.histogram_buckets()::interval[]) then
    raise exception using errcode = '22023',
      message = format('bucket must be one of %s, got %s',
        array_to_string(bridge.histogram_buckets(), ', '), coalesce(bucket::text, 'null'));
  end if;
  if time_from is null or time_to is null then
    raise exception using errcode = '22023', message = 'time_from and time_to are required';
  end if;
  if time_from > time_to then
    raise exception using errcode = '22023',
      message = format('time_from (%s) must not be after time_to (%s)', time_from, time_to);
  end if;
  bucket_count := ceil(extract(epoch from time_to - time_from) / extract(epoch from bucket));
  if bucket_count > max_buckets then
    raise exception using errcode = '22023',
      message = format('bucket %s over this time range makes %s buckets; at most %s are allowed',
        bucket, bucket_count, max_buckets);
  end if;
  if cardinality(event_types) = 0 then
    raise exception using errcode = '22023',
      message = 'event_types must name at least one type, or be null for all types';
  end if;

  if event_types is not null then filters := ' and e.event_type = any($4)'; end if;

  -- Buckets are aligned to time_from, so the first bucket starts where the range does. The
  -- caller's scope is applied by each node's scope view (20261127000200_node_layout.sql).
  select array_agg(format(
           'select date_bin($1, e.event_time, $2) as bucket_start, e.event_type, count(*) as events
       from %s e
      where e.event_time >= $2 and e.event_time < $3%s%s
      group by 1, 2', b.source, filters, b.slice))
    into branches
    from bridge.node_branches('events_in_scope', 'e', time_from, time_to,
           jsonb_strip_nulls(jsonb_build_object('event_type', to_jsonb(event_types)))) b;
  statement := case when cardinality(branches) = 1 then branches[1] || '
      order by 1, 2'
    else 'select g.bucket_start, g.event_type, g.events
       from (select s.bucket_start, s.event_type, sum(s.events)::bigint as events
               from ((' || array_to_string(branches, ') union all (') || ')) s
              group by s.event_type, s.bucket_start) g
      order by 1, 2' end;

  if explain_only then
    perform bridge.check_may_explain();
    execute 'explain (verbose, format json) ' || statement into plan
      using bucket, time_from, time_to, event_types;
    -- One row: the plan, and no count.
    return query select null::timestamptz, null::text, null::bigint, plan;
    return;
  end if;
  return query execute 'select s.*, null::jsonb from (' || statement || ') s'
    using bucket, time_from, time_to, event_types;
end;
$$;

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
-- Newest-first with a limit belongs on the node; see bridge.nearest_events. With several nodes
-- the merge must sort anyway; see 20261127000500 for incremental sort and JIT.
set enable_sort = off
set enable_incremental_sort = off
set jit = off
as $$
declare
  caller_bypasses_rls boolean := bridge.caller_bypasses_rls();
  visible bigint[];
  filters text := '';
  skipped text := '';
  page text := '$5';
  branches text[];
  statement text;
  previous_time timestamptz;
  newest_first text := 'a.event_time';
  merged_first text;
  total_order text;
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

  -- $1 visible, $2 time_from, $3 time_to, $4 actions, $5 max_rows, $6 before, $7 before_position
  if time_from is not null then filters := filters || ' and a.event_time >= $2'; end if;
  if time_to is not null then filters := filters || ' and a.event_time < $3'; end if;
  if actions is not null then filters := filters || ' and a.action = any($4)'; end if;
  if before is not null and before_position is null then
    filters := filters || ' and a.event_time < $6';
  elsif before is not null then
    -- The rows at exactly `before` come first in this order: skip the ones already returned.
    filters := filters || ' and a.event_time <= $6';
    skipped := ' offset $7';
    page := '$5 + $7';
  end if;

  -- See 20261126000800: for a few missions, an order no node index gives makes the node read
  -- those missions' (mission_id, event_time) index ranges instead of walking back in time.
  if cardinality(visible) <= 50 then
    newest_first := 'date_bin(''1 microsecond'', a.event_time, ''2000-01-01 00:00+00'')';
  end if;
  total_order := ' desc, a.mission_id, a.agent_id, a.action, a.details';
  -- The merge orders by the other of the two expressions equal to event_time: an order no
  -- node's page comes in, so the planner appends the pages, asking every node at once, and
  -- sorts them, rather than merging them in order with a Merge Append, which asks the nodes one
  -- after another (DESIGN.md fact 11). Each page selects its order as a column, newest_first:
  -- sorted by an expression it did not select, a page carries that expression as a hidden
  -- column, PostgreSQL 15 keeps a Subquery Scan above the node's scan to drop it, and a Subquery
  -- Scan that projects cannot run asynchronously.
  merged_first := case when newest_first = 'a.event_time'
    then 'date_bin(''1 microsecond'', a.event_time, ''2000-01-01 00:00+00'')'
    else 'a.event_time' end;

  select array_agg(format(
           'select a.mission_id, a.event_time, a.agent_id, a.action, a.details, %s as newest_first
       from %s a
      where a.mission_id = any($1)%s%s
      order by newest_first%s', newest_first, b.source, filters, b.slice, total_order))
    into branches
    from bridge.node_branches('activity_log', 'a', time_from,
           least(time_to, before + case when before_position is null then interval '0'
                                        else interval '1 microsecond' end)) b;
  statement := case when cardinality(branches) = 1 then branches[1] || '
      limit $5' || skipped
    else 'select a.* from ((' || array_to_string(branches, format(' limit %s) union all (', page))
      || format(' limit %s)) a', page) || '
      order by ' || merged_first || total_order || '
      limit $5' || skipped end;

  if explain_only then
    execute 'explain (verbose, format json) ' || statement into plan
      using coalesce(visible, '{}'), time_from, time_to, actions, max_rows, before,
            before_position;
    return next;
    return;
  end if;

  -- Read in the merged order, so each row's place among its event_time's rows is counted here.
  -- Into the result's own columns, which plpgsql_check can type, rather than a record whose
  -- shape only the dynamic statement knows; without the pages' order column, as the events
  -- steps read theirs.
  for mission_id, event_time, agent_id, action, details in execute
    'select p.mission_id, p.event_time, p.agent_id, p.action, p.details from (' || statement
      || ') p'
    using visible, time_from, time_to, actions, max_rows, before, before_position
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
