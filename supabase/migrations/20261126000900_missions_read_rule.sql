-- Who may read a mission, written once (issue 12). The select policy on public.missions and
-- bridge.mission_activity_rows, the definer step that reads the foreign activity table (which
-- ignores RLS, DESIGN.md fact 6), both ask bridge.readable_mission_ids(): the policy here, the
-- step as 20261127000550 defines it. Change the rule there and the policy and the activity step
-- follow together; before, the step held a copy of the policy's predicate and a test compared
-- the two texts.
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
