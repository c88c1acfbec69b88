-- Who may use what: the one declared list of every privilege the API roles (anon, authenticated,
-- service_role) hold on the bridge's objects, compared with what the catalog says they hold.
-- A grant that is not listed here, or a listed one that is missing, fails the test and is named
-- in its diagnostics. The grants themselves sit beside each object in supabase/; this file is
-- where a reviewer reads them all at once.
--
-- The doctor (npm run doctor) keeps no list of its own: on a deployed database it looks for the
-- dangerous cases whatever the version (anon reaching the bridge, a foreign table, a server or a
-- user mapping exposed, a write into bridge, a definer function without a fixed search_path), so
-- this file is the only place the intended privileges are written.
--
-- Covered: schema bridge; every relation in bridge and public, and every foreign table anywhere,
-- each node's relations counted once as <node> (listed below, compared only while several nodes
-- are attached); every function in bridge and public; every
-- foreign server and user mapping. Not covered: schema public and the sequences, which keep
-- Supabase's default privileges (a sequence holds no rows). Privileges are effective ones, through
-- role membership and PUBLIC, and ALL stands for the seven privileges of a table.
--
-- Run by `npm test` with pg_prove; rolled back.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(9);

create temporary table intended (object text, role text, privileges text) on commit drop;
insert into intended values
  -- The private schema: authenticated and service_role may use what is granted inside it.
  ('schema bridge', 'authenticated', 'USAGE'),
  ('schema bridge', 'service_role', 'USAGE'),

  -- The RPCs: signed-in users and servers, never anon.
  ('function public.search_events', 'authenticated', 'EXECUTE'),
  ('function public.search_events', 'service_role', 'EXECUTE'),
  ('function public.mission_activity', 'authenticated', 'EXECUTE'),
  ('function public.mission_activity', 'service_role', 'EXECUTE'),
  ('function public.event_histogram', 'authenticated', 'EXECUTE'),
  ('function public.event_histogram', 'service_role', 'EXECUTE'),
  ('function public.bridge_health', 'service_role', 'EXECUTE'),

  -- The steps the RPCs call as the caller, and what they call. Each returns only what the caller
  -- may see: the events steps read bridge.events_in_scope; the activity step re-checks the
  -- missions by readable_mission_ids, the rule the missions policy calls; the explain guards
  -- explain only to a caller that bypasses RLS; node_branches returns relation names and slices,
  -- never rows.
  ('function bridge.nearest_events', 'authenticated', 'EXECUTE'),
  ('function bridge.nearest_events', 'service_role', 'EXECUTE'),
  ('function bridge.event_counts', 'authenticated', 'EXECUTE'),
  ('function bridge.event_counts', 'service_role', 'EXECUTE'),
  ('function bridge.histogram_buckets', 'authenticated', 'EXECUTE'),
  ('function bridge.histogram_buckets', 'service_role', 'EXECUTE'),
  ('function bridge.mission_activity_rows', 'authenticated', 'EXECUTE'),
  ('function bridge.mission_activity_rows', 'service_role', 'EXECUTE'),
  ('function bridge.check_activity_arguments', 'authenticated', 'EXECUTE'),
  ('function bridge.check_activity_arguments', 'service_role', 'EXECUTE'),
  ('function bridge.readable_mission_ids', 'authenticated', 'EXECUTE'),
  ('function bridge.readable_mission_ids', 'service_role', 'EXECUTE'),
  ('function bridge.check_may_explain', 'authenticated', 'EXECUTE'),
  ('function bridge.check_may_explain', 'service_role', 'EXECUTE'),
  ('function bridge.caller_bypasses_rls', 'authenticated', 'EXECUTE'),
  ('function bridge.caller_bypasses_rls', 'service_role', 'EXECUTE'),
  ('function bridge.caller_sees_all_events', 'authenticated', 'EXECUTE'),
  ('function bridge.caller_sees_all_events', 'service_role', 'EXECUTE'),
  ('function bridge.caller_event_keys', 'authenticated', 'EXECUTE'),
  ('function bridge.caller_event_keys', 'service_role', 'EXECUTE'),
  ('function bridge.node_branches', 'authenticated', 'EXECUTE'),
  ('function bridge.node_branches', 'service_role', 'EXECUTE'),

  -- Operating the link: servers only.
  ('function bridge.configure', 'service_role', 'EXECUTE'),
  ('function bridge.refresh_foreign_tables', 'service_role', 'EXECUTE'),
  ('function bridge.attach_node', 'service_role', 'EXECUTE'),
  ('function bridge.detach_node', 'service_role', 'EXECUTE'),
  ('function bridge.move_boundary', 'service_role', 'EXECUTE'),
  ('function bridge.slice_in_words', 'service_role', 'EXECUTE'),
  ('table bridge.nodes', 'service_role', 'SELECT'),
  ('view bridge.node_slices', 'service_role', 'SELECT'),

  -- The node's rows reach callers only through the scope view, which filters them by the
  -- caller's grants (the foreign tables themselves ignore RLS); the event access mode is no
  -- secret, and only its owner changes it.
  ('view bridge.events_in_scope', 'authenticated', 'SELECT'),
  ('view bridge.events_in_scope', 'service_role', 'SELECT'),
  ('view bridge.events_in_scope_at_<node>', 'authenticated', 'SELECT'),
  ('view bridge.events_in_scope_at_<node>', 'service_role', 'SELECT'),
  ('table bridge.event_access', 'authenticated', 'SELECT'),
  ('table bridge.event_access', 'service_role', 'SELECT'),

  -- The app's tables, under RLS: users read their grants and never write one; owners manage
  -- their missions.
  ('table public.event_scopes', 'authenticated', 'SELECT'),
  ('table public.event_scopes', 'service_role', 'ALL'),
  ('table public.missions', 'authenticated', 'SELECT, INSERT, UPDATE, DELETE'),
  ('table public.missions', 'service_role', 'ALL');

-- The relations the list may name: the bridge's and the app's, and every foreign table.
create temporary view api_relation as
select c.oid, format('%s %I.%s',
         case c.relkind when 'r' then 'table' when 'p' then 'partitioned table'
           when 'f' then 'foreign table' when 'v' then 'view' else 'materialized view' end,
         n.nspname, regexp_replace(c.relname, '_at_.+$', '_at_<node>')) as object
  from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
 where c.relkind in ('r', 'p', 'f', 'v', 'm')
   and (n.nspname in ('bridge', 'public') or c.relkind = 'f');

-- Every privilege an API role holds, one row per object and role.
create temporary view held as
with api(role) as (values ('anon'), ('authenticated'), ('service_role')),
granted(object, role, privilege, position) as (
  select c.object, a.role, p.name, p.position
    from api a cross join api_relation c
   cross join unnest(array['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES',
                           'TRIGGER']) with ordinality p(name, position)
   where pg_catalog.has_table_privilege(a.role, c.oid, p.name)
  union
  select 'schema bridge', a.role, p.name, p.position
    from api a cross join unnest(array['USAGE', 'CREATE']) with ordinality p(name, position)
   where pg_catalog.has_schema_privilege(a.role, 'bridge', p.name)
  union
  select format('function %I.%I', n.nspname, f.proname), a.role, 'EXECUTE', 1
    from api a cross join pg_catalog.pg_proc f
    join pg_catalog.pg_namespace n on n.oid = f.pronamespace
   where n.nspname in ('bridge', 'public')
     and pg_catalog.has_function_privilege(a.role, f.oid, 'EXECUTE')
  union
  select format('server %I', s.srvname), a.role, 'USAGE', 1
    from api a cross join pg_catalog.pg_foreign_server s
   where pg_catalog.has_server_privilege(a.role, s.oid, 'USAGE')
  union
  select format('user mapping on server %I', m.srvname), m.usename, 'MAPPING', 1
    from pg_catalog.pg_user_mappings m
   where m.usename in ('anon', 'authenticated', 'service_role', 'public'))
select object, role,
       case when count(*) = 7 then 'ALL'
            else string_agg(privilege, ', ' order by position) end as privileges
  from granted
 group by object, role;

select set_eq(
  'select object, role, privileges from held',
  $$select object, role, privileges from intended
     where object not like '%<node>' or object in (select object from api_relation)$$,
  'the API roles hold exactly the privileges declared here');

-- The events RPCs run as the caller: the scope is read under the caller's RLS, and only the view
-- reads the foreign table, with its owner's rights.
select isnt_definer('public', 'search_events', 'search_events runs as the caller, in scope');
select isnt_definer('bridge', 'nearest_events', 'the search step runs as the caller, in scope');
select isnt_definer('public', 'event_histogram', 'event_histogram runs as the caller, in scope');
select isnt_definer('bridge', 'event_counts', 'the histogram step runs as the caller, in scope');
select isnt_definer('bridge', 'caller_event_keys', array['text'], 'the scope is read as the caller');
select isnt_definer('public', 'mission_activity', 'mission_activity runs as the caller, under RLS');

select policies_are('public', 'event_scopes', array['users read their event scopes'],
  'event_scopes has exactly the users'' read policy');

select policies_are('public', 'missions', array[
  'callers read the missions the rule allows', 'owners add missions', 'owners change their missions',
  'owners remove their missions'], 'missions has exactly the rule''s read policy and the owner policies');

select * from finish();
rollback;
