-- public.mission_activity: the activity of the caller's missions, newest first, fetched from the
-- Timescale node with mission_id = any(...) so the node's (mission_id, event_time) index does the
-- work. A join driven by a local filter would pull the whole remote table (DESIGN.md fact 3).
--
-- Two steps. public.mission_activity runs as the caller: RLS on public.missions decides which of
-- the requested ids are visible. bridge.mission_activity_rows is the narrow definer step that
-- reads the foreign table for those ids only; it checks the ids again against the same rule as
-- the select policy on public.missions, so calling it directly cannot widen what a caller sees.

-- The argument rules both steps enforce: the API step before it reads anything, the definer step
-- for direct calls.
create or replace function bridge.check_activity_arguments(
  mission_ids bigint[],
  time_from timestamptz,
  time_to timestamptz,
  max_rows int
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
end;
$$;

revoke all on function bridge.check_activity_arguments(bigint[], timestamptz, timestamptz, int) from public, anon;
grant execute on function bridge.check_activity_arguments(bigint[], timestamptz, timestamptz, int) to authenticated, service_role;

create or replace function bridge.mission_activity_rows(
  mission_ids bigint[],
  time_from timestamptz,
  time_to timestamptz,
  actions text[],
  max_rows int,
  before timestamptz
) returns table (
  mission_id bigint,
  event_time timestamptz,
  agent_id text,
  action text,
  details jsonb
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
begin
  perform bridge.check_activity_arguments(mission_ids, time_from, time_to, max_rows);

  -- The select policy of public.missions, for a caller that does not bypass RLS.
  select array_agg(m.id) into visible
    from public.missions m
   where m.id = any(mission_ids)
     and (m.owner = (select auth.uid())
          or exists (select from pg_catalog.pg_roles r where r.rolname = caller and r.rolbypassrls));
  if visible is null then
    return;
  end if;

  -- $1 visible, $2 time_from, $3 time_to, $4 actions, $5 max_rows, $6 before
  if time_from is not null then filters := filters || ' and a.event_time >= $2'; end if;
  if time_to is not null then filters := filters || ' and a.event_time < $3'; end if;
  if actions is not null then filters := filters || ' and a.action = any($4)'; end if;
  if before is not null then filters := filters || ' and a.event_time < $6'; end if;

  return query execute
    'select a.mission_id, a.event_time, a.agent_id, a.action, a.details
       from bridge.activity_log a
      where a.mission_id = any($1)' || filters || '
      order by a.event_time desc
      limit $5'
    using visible, time_from, time_to, actions, max_rows, before;
end;
$$;

revoke all on function bridge.mission_activity_rows(bigint[], timestamptz, timestamptz, text[], int, timestamptz) from public, anon;
grant execute on function bridge.mission_activity_rows(bigint[], timestamptz, timestamptz, text[], int, timestamptz) to authenticated, service_role;

create or replace function public.mission_activity(
  mission_ids bigint[],
  time_from timestamptz default null,
  time_to timestamptz default null,
  actions text[] default null,
  max_rows int default 100,
  before timestamptz default null
) returns table (
  mission_id bigint,
  outcome text,
  event_time timestamptz,
  agent_id text,
  action text,
  details jsonb
)
language plpgsql
stable
security invoker
set search_path = ''
as $$
declare
  visible bigint[];
begin
  perform bridge.check_activity_arguments(mission_ids, time_from, time_to, max_rows);

  -- As the caller: RLS on public.missions leaves only the missions this caller may see.
  select array_agg(m.id) into visible from public.missions m where m.id = any(mission_ids);
  if visible is null then
    return;
  end if;

  return query
    select a.mission_id, m.outcome, a.event_time, a.agent_id, a.action, a.details
      from bridge.mission_activity_rows(visible, time_from, time_to, actions, max_rows, before) a
      join public.missions m on m.id = a.mission_id
     where m.id = any(visible)  -- lets the join use the primary key, not read every mission
     order by a.event_time desc, a.mission_id;
end;
$$;

revoke all on function public.mission_activity(bigint[], timestamptz, timestamptz, text[], int, timestamptz) from public, anon;
grant execute on function public.mission_activity(bigint[], timestamptz, timestamptz, text[], int, timestamptz) to authenticated, service_role;
