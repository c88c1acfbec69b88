-- Who may use what, read from the catalogs: the API roles reach the bridge only through the
-- RPC functions, and anon reaches nothing. Run by `npm test` with pg_prove; rolled back.
begin;
create extension if not exists pgtap with schema extensions;
set local search_path = extensions, public;

select plan(28);

select schema_privs_are('bridge', 'anon', array[]::text[], 'anon has no use of schema bridge');
select schema_privs_are('bridge', 'authenticated', array['USAGE'], 'authenticated may only use schema bridge');

select table_privs_are('bridge', 'events', 'anon', array[]::text[], 'anon cannot touch bridge.events');
select table_privs_are('bridge', 'events', 'authenticated', array[]::text[], 'authenticated cannot touch bridge.events');
select table_privs_are('bridge', 'events', 'service_role', array[]::text[], 'service_role cannot touch bridge.events');
select table_privs_are('bridge', 'activity_log', 'authenticated', array[]::text[], 'authenticated cannot touch bridge.activity_log');
select table_privs_are('public', 'missions', 'anon', array[]::text[], 'anon cannot touch public.missions');

select function_privs_are('public', 'search_events',
  array['extensions.vector', 'integer', 'text[]', 'text', 'text', 'text', 'text',
        'timestamp with time zone', 'timestamp with time zone', 'double precision'],
  'anon', array[]::text[], 'anon cannot call search_events');
select function_privs_are('public', 'search_events',
  array['extensions.vector', 'integer', 'text[]', 'text', 'text', 'text', 'text',
        'timestamp with time zone', 'timestamp with time zone', 'double precision'],
  'authenticated', array['EXECUTE'], 'authenticated may call search_events');
select function_privs_are('public', 'mission_activity',
  array['bigint[]', 'timestamp with time zone', 'timestamp with time zone', 'text[]', 'integer',
        'timestamp with time zone', 'integer'],
  'anon', array[]::text[], 'anon cannot call mission_activity');
select function_privs_are('public', 'event_histogram',
  array['interval', 'timestamp with time zone', 'timestamp with time zone', 'text[]'],
  'anon', array[]::text[], 'anon cannot call event_histogram');
select function_privs_are('bridge', 'configure',
  array['text', 'integer', 'text', 'text', 'text', 'text', 'text'],
  'authenticated', array[]::text[], 'authenticated cannot configure the link');
select function_privs_are('bridge', 'configure',
  array['text', 'integer', 'text', 'text', 'text', 'text', 'text'],
  'service_role', array['EXECUTE'], 'service_role may configure the link');
select function_privs_are('bridge', 'nearest_events',
  array['extensions.vector', 'integer', 'text[]', 'text', 'text', 'text', 'text',
        'timestamp with time zone', 'timestamp with time zone', 'double precision', 'boolean'],
  'anon', array[]::text[], 'anon cannot call the search step');
select function_privs_are('bridge', 'event_counts',
  array['interval', 'timestamp with time zone', 'timestamp with time zone', 'text[]', 'boolean'],
  'anon', array[]::text[], 'anon cannot call the histogram step');

-- The events RPCs run as the caller: the scope is read under the caller's RLS, and only the view
-- reads the foreign table, with its owner's rights.
select isnt_definer('public', 'search_events', 'search_events runs as the caller, in scope');
select isnt_definer('bridge', 'nearest_events', 'the search step runs as the caller, in scope');
select isnt_definer('public', 'event_histogram', 'event_histogram runs as the caller, in scope');
select isnt_definer('bridge', 'event_counts', 'the histogram step runs as the caller, in scope');
select isnt_definer('bridge', 'caller_event_keys', array['text'], 'the scope is read as the caller');
select isnt_definer('public', 'mission_activity', 'mission_activity runs as the caller, under RLS');
select table_privs_are('bridge', 'events_in_scope', 'anon', array[]::text[], 'anon cannot read the scoped events');
select table_privs_are('bridge', 'events_in_scope', 'authenticated', array['SELECT'], 'authenticated only reads the scoped events');

select table_privs_are('public', 'event_scopes', 'anon', array[]::text[], 'anon cannot touch event_scopes');
select table_privs_are('public', 'event_scopes', 'authenticated', array['SELECT'], 'authenticated only reads its grants, never writes one');
select table_privs_are('bridge', 'event_access', 'authenticated', array['SELECT'], 'authenticated cannot open event access');
select policies_are('public', 'event_scopes', array['users read their event scopes'],
  'event_scopes has exactly the users'' read policy');

select policies_are('public', 'missions', array[
  'callers read the missions the rule allows', 'owners add missions', 'owners change their missions',
  'owners remove their missions'], 'missions has exactly the rule''s read policy and the owner policies');

select * from finish();
rollback;
