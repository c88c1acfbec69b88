-- Missions live on Supabase and belong to users; their activity lives on the Timescale node.
-- RLS: an authenticated user sees only the missions they own; service_role bypasses RLS.

create table if not exists public.missions (
  id         bigint primary key,
  outcome    text,
  owner      uuid default auth.uid(),
  created_at timestamptz not null default now()
);

create index if not exists missions_owner on public.missions (owner);

alter table public.missions enable row level security;

revoke all on public.missions from anon;
revoke all on public.missions from authenticated;
grant select, insert, update, delete on public.missions to authenticated;
grant all on public.missions to service_role;

drop policy if exists "owners read their missions" on public.missions;
create policy "owners read their missions" on public.missions
  for select to authenticated using ((select auth.uid()) = owner);

drop policy if exists "owners add missions" on public.missions;
create policy "owners add missions" on public.missions
  for insert to authenticated with check ((select auth.uid()) = owner);

drop policy if exists "owners change their missions" on public.missions;
create policy "owners change their missions" on public.missions
  for update to authenticated
  using ((select auth.uid()) = owner) with check ((select auth.uid()) = owner);

drop policy if exists "owners remove their missions" on public.missions;
create policy "owners remove their missions" on public.missions
  for delete to authenticated using ((select auth.uid()) = owner);
