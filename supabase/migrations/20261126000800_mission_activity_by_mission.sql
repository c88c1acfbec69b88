-- mission_activity as fast as the node's best plan allows (issue 15, DESIGN.md fact 9). Same
-- arguments, same rows in the same order, same cursor semantics as 20261126000200:
--
-- 1. bridge.mission_activity_rows asks the node for a few missions' rows in a shape that makes
--    it read those missions' index ranges instead of walking the whole table back in time: only
--    the ORDER BY sent changes, to an expression equal to event_time that the node's event_time
--    index cannot serve. Measured on the benchmark's data (1M activity rows, 10,000 missions,
--    on the node): newest 100 rows of 10 missions 40 ms as before, 2.4 ms this way; of 100
--    missions 7 ms as before, 17 ms this way; hence the limit of 50 missions below.
-- 2. public.mission_activity looks each returned row's outcome up by primary key instead of
--    joining public.missions, which the planner did by reading every mission.

create or replace function bridge.mission_activity_rows(
  mission_ids bigint[],
  time_from timestamptz,
  time_to timestamptz,
  actions text[],
  max_rows int,
  before timestamptz,
  before_position int
) returns table (
  mission_id bigint,
  event_time timestamptz,
  agent_id bigint,
  action text,
  details jsonb,
  tie_position int
)
language plpgsql
stable
security definer
set search_path = ''
-- Newest-first with a limit belongs on the node; see bridge.nearest_events.
set enable_sort = off
as $$
declare
  caller text := coalesce(nullif(current_setting('role'), 'none'), session_user);
  visible bigint[];
  filters text := '';
  skipped text := '';
  fetched record;
  previous_time timestamptz;
  newest_first text := 'a.event_time';
begin
  perform bridge.check_activity_arguments(mission_ids, time_from, time_to, max_rows, before,
    before_position);

  -- The select policy of public.missions, for a caller that does not bypass RLS.
  select array_agg(m.id) into visible
    from public.missions m
   where m.id = any(mission_ids)
     and (m.owner = (select auth.uid())
          or exists (select from pg_catalog.pg_roles r where r.rolname = caller and r.rolbypassrls));
  if visible is null then
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
  end if;

  -- For a few missions, the node must not walk its event_time index backwards, filtering by
  -- mission: it expects their rows spread over all time and reads everyone's rows until it
  -- finds max_rows of theirs (60 ms for 10 missions on 1M rows). date_bin by one microsecond,
  -- timestamptz's own resolution, is event_time itself in an order no index gives, so the node
  -- reads the missions' (mission_id, event_time) index ranges and sorts them (3 ms). For many
  -- missions, those ranges hold more rows than the backward walk reads before it has max_rows.
  if cardinality(visible) <= 50 then
    newest_first := 'date_bin(''1 microsecond'', a.event_time, ''2000-01-01 00:00+00'')';
  end if;

  -- Read in the node's order, so each row's place among its event_time's rows is counted here.
  for fetched in execute
    'select a.mission_id, a.event_time, a.agent_id, a.action, a.details
       from bridge.activity_log a
      where a.mission_id = any($1)' || filters || '
      order by ' || newest_first || ' desc, a.mission_id, a.agent_id, a.action, a.details
      limit $5' || skipped
    using visible, time_from, time_to, actions, max_rows, before, before_position
  loop
    tie_position := case
      when fetched.event_time = previous_time then tie_position + 1
      when fetched.event_time = before then before_position + 1
      else 1
    end;
    previous_time := fetched.event_time;
    mission_id := fetched.mission_id;
    event_time := fetched.event_time;
    agent_id := fetched.agent_id;
    action := fetched.action;
    details := fetched.details;
    return next;
  end loop;
end;
$$;

revoke all on function bridge.mission_activity_rows(bigint[], timestamptz, timestamptz, text[], int, timestamptz, int) from public, anon;
grant execute on function bridge.mission_activity_rows(bigint[], timestamptz, timestamptz, text[], int, timestamptz, int) to authenticated, service_role;

-- The outcome of each returned row's mission, by primary key: a join made the planner read every
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
