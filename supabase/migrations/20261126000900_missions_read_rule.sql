-- Who may read a mission, written once (issue 12). The select policy on public.missions and
-- bridge.mission_activity_rows, the definer step that reads the foreign activity table (which
-- ignores RLS, DESIGN.md fact 6), both ask bridge.readable_mission_ids(). Change the rule there
-- and the policy and the activity step follow together; before, the step held a copy of the
-- policy's predicate and a test compared the two texts.
--
-- A set of ids rather than a predicate on one row: a predicate function must carry
-- `set search_path` (the advisors require it), which keeps PostgreSQL from inlining it, so the
-- policy would call it once per mission and the index on owner could not serve it. The set is
-- read once per statement, through that index, and probed as a hash.
--
-- SECURITY DEFINER, so reading public.missions from within its own policy does not apply the
-- policy again.

create or replace function bridge.readable_mission_ids()
returns setof bigint
language sql
stable
security definer
set search_path = ''
rows 100
as $$
  select m.id from public.missions m where m.owner = (select auth.uid())
$$;

revoke all on function bridge.readable_mission_ids() from public, anon;
grant execute on function bridge.readable_mission_ids() to authenticated, service_role;

drop policy if exists "owners read their missions" on public.missions;
create policy "callers read the missions the rule allows" on public.missions
  for select to authenticated using (id in (select bridge.readable_mission_ids()));

-- As 20261126000800, but the caller's visible missions come from the rule.
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

  -- The requested missions this caller may read, by the rule, or all of them for a caller that
  -- bypasses RLS.
  select array_agg(m.id) into visible
    from public.missions m
   where m.id = any(mission_ids)
     and (m.id in (select bridge.readable_mission_ids())
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

  -- See 20261126000800: for a few missions, an order no node index gives makes the node read
  -- those missions' (mission_id, event_time) index ranges instead of walking back in time.
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
