-- public.mission_activity, redefined for two reasons that change its result type, so the
-- functions of 20261125000600 are dropped and created again (a result type cannot be replaced):
--
-- 1. agent_id is bigint, as the founding document declares activity_log (20261126000100).
-- 2. Pages that cannot lose a row. `before` alone is exclusive: a page ending among rows that
--    share one event_time left the rest of them unreachable. Rows now come in a total order,
--    newest first and then by (mission_id, agent_id, action, details), and each carries
--    tie_position, its 1-based place among the rows of its event_time in that order. The next
--    page is asked for with before => the last row's event_time and before_position => its
--    tie_position: the rows at exactly `before` after that place, then the older ones. The
--    node applies it as event_time <= before ... order by ... offset before_position, so
--    mission_id = any(...), the order and the limit are still sent to it (DESIGN.md fact 3).
--    `before` without before_position keeps its old meaning (every row at `before` skipped).
--
-- Otherwise as 20261125000600: public.mission_activity runs as the caller, so RLS on
-- public.missions decides which requested ids are visible; bridge.mission_activity_rows is the
-- narrow definer step that reads the foreign table for those ids only and checks them again
-- against the select policy, so calling it directly cannot widen what a caller sees.

drop function if exists public.mission_activity(bigint[], timestamptz, timestamptz, text[], int, timestamptz);
drop function if exists bridge.mission_activity_rows(bigint[], timestamptz, timestamptz, text[], int, timestamptz);
drop function if exists bridge.check_activity_arguments(bigint[], timestamptz, timestamptz, int);

-- The argument rules both steps enforce: the API step before it reads anything, the definer step
-- for direct calls.
create function bridge.check_activity_arguments(
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

create function bridge.mission_activity_rows(
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

  -- Read in the node's order, so each row's place among its event_time's rows is counted here.
  for fetched in execute
    'select a.mission_id, a.event_time, a.agent_id, a.action, a.details
       from bridge.activity_log a
      where a.mission_id = any($1)' || filters || '
      order by a.event_time desc, a.mission_id, a.agent_id, a.action, a.details
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

create function public.mission_activity(
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
    select a.mission_id, m.outcome, a.event_time, a.agent_id, a.action, a.details, a.tie_position
      from bridge.mission_activity_rows(visible, time_from, time_to, actions, max_rows, before,
             before_position) a
      join public.missions m on m.id = a.mission_id
     where m.id = any(visible)  -- lets the join use the primary key, not read every mission
     order by a.event_time desc, a.tie_position;
end;
$$;

revoke all on function public.mission_activity(bigint[], timestamptz, timestamptz, text[], int, timestamptz, int) from public, anon;
grant execute on function public.mission_activity(bigint[], timestamptz, timestamptz, text[], int, timestamptz, int) to authenticated, service_role;
