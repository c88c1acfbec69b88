-- bridge.mission_activity_rows asks each node for its own page (issue 13), and can explain its
-- statement as the events steps do (explain_only, issue 12 item 1), so bridge_health, the doctor
-- and the benchmark can read the plan callers run rather than a copy of it.
--
-- Each node that can hold rows in the call's window (bridge.node_branches) gets a statement of
-- its own: mission_id = any(the visible missions), the filters, its slice as a predicate, the
-- same newest-first order as 20261126000800 and a LIMIT. The pages are merged here in the same
-- total order, so rows, tie_position and the cursor mean what they meant with one node. A node's
-- page is max_rows long, plus before_position when the cursor skips rows at `before`: the OFFSET
-- applies to the merged rows, so each node must send every row that could be among them.
--
-- With the default node alone the statement is exactly the one sent before. The caller's
-- visible missions come from the rule bridge.readable_mission_ids (20261126000900), which the
-- select policy of public.missions calls too.
--
-- The result gains a `plan` column, so the function is dropped and created again;
-- public.mission_activity names its columns and is unaffected.

-- Whether the caller bypasses RLS, judged by the caller's own role (the role set for the call,
-- else the session's): current_user in an invoker step, but not in this definer step, where
-- current_user is the owner. bridge.check_may_explain judged current_user; it now asks this,
-- so one check serves all three steps, and this step decides visibility by it too.
create or replace function bridge.caller_bypasses_rls()
returns boolean
language sql
stable
set search_path = ''
as $$
  select exists (select from pg_catalog.pg_roles r
                  where r.rolname = coalesce(nullif(current_setting('role'), 'none'), session_user)
                    and r.rolbypassrls)
$$;

revoke all on function bridge.caller_bypasses_rls() from public, anon;
grant execute on function bridge.caller_bypasses_rls() to authenticated, service_role;

create or replace function bridge.check_may_explain()
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if not bridge.caller_bypasses_rls() then
    raise exception using errcode = '42501',
      message = 'only service_role may read the plan of a bridge statement';
  end if;
end;
$$;

drop function if exists bridge.mission_activity_rows(bigint[], timestamptz, timestamptz, text[], int, timestamptz, int);

create function bridge.mission_activity_rows(
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
  fetched record;
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
  for fetched in execute statement
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

revoke all on function bridge.mission_activity_rows(bigint[], timestamptz, timestamptz, text[], int, timestamptz, int, boolean) from public, anon;
grant execute on function bridge.mission_activity_rows(bigint[], timestamptz, timestamptz, text[], int, timestamptz, int, boolean) to authenticated, service_role;
