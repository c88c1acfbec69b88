-- Baseline of release 0.1.0: the bridge as supabase/schemas/ defines it, the files in the order
-- supabase/config.toml lists them. From 0.1.0 on, migrations are append-only: a change edits
-- supabase/schemas/ and adds a migration made from the difference (npm run migration:new).

-- ==== supabase/schemas/extensions.sql ====

-- The extensions the bridge needs, in schema `extensions` as Supabase installs them: never in
-- public (the advisors flag extension_in_public), and the vector type's schema must match the
-- Timescale node's, since postgres_fdw ships operators schema-qualified
-- (docs/design.md § operator schemas match on both sides).

create extension if not exists postgres_fdw with schema extensions;
create extension if not exists vector with schema extensions;

-- dblink: the steps ask the nodes through it, one round trip per node and call
-- (supabase/schemas/ask_nodes.sql).
create extension if not exists dblink with schema extensions;

-- Supabase grants every function in schema extensions to the API roles by default: dblink opens
-- connections anywhere, so nobody but the owner may call it.
do $$
declare
  f regprocedure;
begin
  for f in
    select d.objid::regprocedure from pg_catalog.pg_depend d
     where d.classid = 'pg_catalog.pg_proc'::regclass
       and d.refclassid = 'pg_catalog.pg_extension'::regclass
       and d.refobjid = (select e.oid from pg_catalog.pg_extension e where e.extname = 'dblink')
       and d.deptype = 'e'
  loop
    execute format('revoke all on function %s from public, anon, authenticated, service_role', f);
  end loop;
end;
$$;

-- ==== supabase/schemas/link.sql ====

-- The link to the Timescale node: the private schema `bridge`, the server events_ts (the default
-- node), the foreign tables that read the node's export views, and bridge.configure, which
-- points the link at a node.
--
-- `bridge` is not in the API's exposed schemas and no API role may read its tables: foreign
-- tables ignore RLS (docs/design.md § foreign tables ignore RLS), so the only way in is through the
-- RPC functions in public.
--
-- The server carries no host or secret: bridge.configure sets them at deploy time from
-- configuration, so nothing secret is ever in a migration. Until it is called, queries fail with
-- a clear connection error naming the placeholder host.

create schema bridge;
revoke all on schema bridge from public;
grant usage on schema bridge to authenticated, service_role;

-- extensions 'vector': without it pgvector's operators are not shipped and a top-k search pulls
--   every remote row to sort it locally (docs/design.md § vector pushdown needs the extensions option).
-- fetch_size 1000: one round trip for the largest page mission_activity returns.
-- connect_timeout 3: libpq counts it in whole seconds of the wall clock, so '3' waits 2 to 3 s,
--   and a node that accepts connections but never answers fails its caller within the 5 s the
--   functions promise for a down node, with time left for the call's own work.
-- updatable false: the link only reads, whatever grants exist on either side.
-- async_capable true: postgres_fdw scans a node while the others are scanned only when its
--   server allows it; the servers bridge.attach_node adds get the same option.
create server events_ts
  foreign data wrapper postgres_fdw
  options (
    host 'bridge-not-configured.invalid',
    port '5432',
    dbname 'postgres',
    sslmode 'require',
    extensions 'vector',
    fetch_size '1000',
    keep_connections 'on',
    connect_timeout '3',
    updatable 'false',
    application_name 'supabase-fdw-bridge',
    async_capable 'true'
  );

-- Foreign tables for the Timescale node's export views (sql/timescale/02_export.sql), column for
-- column, with activity_log's agent_id a bigint as the node's table declares it. Declared here
-- rather than imported, because a migration must not need the node to be reachable or
-- configured. Readable only by the owner: callers go through the RPC functions. With other nodes
-- attached, bridge.lay_out_nodes turns them into partitioned tables (nodes.sql).

create foreign table bridge.events (
  event_time        timestamptz not null,
  user_token        text not null,
  agent_key         text not null,
  device_key        text not null,
  location_key      text not null,
  event_type        text not null,
  data_payload_proc jsonb not null,
  event_embedding   extensions.vector(768)
) server events_ts options (schema_name 'export', table_name 'events');

revoke all on bridge.events from public, anon, authenticated, service_role;

create foreign table bridge.activity_log (
  event_time timestamptz not null,
  mission_id bigint not null,
  agent_id   bigint not null,
  action     text not null,
  details    jsonb not null
) server events_ts options (schema_name 'export', table_name 'activity_log');

revoke all on bridge.activity_log from public, anon, authenticated, service_role;

-- TLS of the link. sslmode 'require' encrypts without checking who answers, so it does not stop a
-- man in the middle, and a hosted project cannot be given a CA file of its own. From PostgreSQL
-- 16, libpq's sslrootcert=system trusts the CAs of the Supabase side's system store: with
-- sslmode 'verify-full', a node whose certificate a public CA issued for its host name is
-- verified as a browser verifies a web site. On 15 libpq would read "system" as a file name.
--
-- Refuses TLS settings the link cannot have, before anything changes.
create or replace function bridge.check_tls(sslmode text, sslrootcert text)
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if sslmode is null or sslmode not in ('require', 'verify-ca', 'verify-full') then
    raise exception using errcode = '22023',
      message = format('sslmode must be require, verify-ca or verify-full (the link is always encrypted), got %s',
        coalesce(sslmode, 'null'));
  end if;
  if sslrootcert is null then
    return;
  end if;
  if sslrootcert <> 'system' then
    raise exception using errcode = '22023',
      message = format('sslrootcert must be system (the CAs the Supabase side trusts) or null, got %s',
        sslrootcert);
  end if;
  if pg_catalog.current_setting('server_version_num')::int < 160000 then
    raise exception using errcode = '0A000',
      message = format('sslrootcert system needs PostgreSQL 16 or later on the Supabase side, and this is %s: link with sslmode require, or upgrade the project to PostgreSQL 17',
        pg_catalog.current_setting('server_version'));
  end if;
  if sslmode <> 'verify-full' then
    raise exception using errcode = '22023',
      message = format('sslrootcert system needs sslmode verify-full, got %s', sslmode);
  end if;
end;
$$;

revoke all on function bridge.check_tls(text, text) from public, anon, authenticated, service_role;

-- Connects once through the server, as the current user's mapping, when its sslmode verifies
-- the node's certificate; a link that cannot be verified fails with libpq's reason. The probe is
-- a dblink connection by the server's name (extensions.sql), opened and closed here, so it
-- connects with the server's settings and the user mapping, as the steps' connections do.
create or replace function bridge.verify_link(server_name text)
returns void
language plpgsql
set search_path = ''
as $$
declare
  options text[];
  setting text;
  reason text;
begin
  select s.srvoptions into options from pg_catalog.pg_foreign_server s
   where s.srvname = server_name;
  setting := (select substr(o, length('sslmode=') + 1) from unnest(options) o
               where o like 'sslmode=%');
  if coalesce(setting, '') not in ('verify-ca', 'verify-full') then
    return;
  end if;
  begin
    perform extensions.dblink_connect('bridge_verify_link', server_name);
    perform extensions.dblink_disconnect('bridge_verify_link');
  exception when sqlclient_unable_to_establish_sqlconnection then
    get stacked diagnostics reason = pg_exception_detail;
    raise exception using errcode = '08001',
      message = format('could not verify the node at %s with %s: nothing was changed',
        (select string_agg(o, ' ') from unnest(options) o
          where o like 'host=%' or o like 'port=%'),
        (select string_agg(o, ' ') from unnest(options) o
          where o like 'sslmode=%' or o like 'sslrootcert=%')),
      detail = reason,
      hint = 'the node''s certificate must be issued for the host name given, by a CA the Supabase side trusts (with sslrootcert system: a public CA)';
  end;
end;
$$;

revoke all on function bridge.verify_link(text) from public, anon, authenticated, service_role;
-- Sets the link's address and credentials. SECURITY DEFINER so that service_role can call it;
-- the user mapping it writes is for the function's owner, the role every definer step of the
-- bridge runs as (postgres_fdw uses the current user's mapping: docs/design.md § user mapping of the current user).
create or replace function bridge.configure(
  host text,
  port int,
  dbname text,
  username text,
  password text,
  sslmode text default 'require',
  sslrootcert text default null
) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  server_options jsonb := jsonb_build_object(
    'host', host, 'port', port::text, 'dbname', dbname, 'sslmode', sslmode);
  option record;
  existing text[];
begin
  if coalesce(host, '') = '' then
    raise exception using errcode = '22023', message = 'host must be a host name or address';
  end if;
  if port is null or port not between 1 and 65535 then
    raise exception using errcode = '22023',
      message = format('port must be between 1 and 65535, got %s', coalesce(port::text, 'null'));
  end if;
  if coalesce(dbname, '') = '' or coalesce(username, '') = '' or coalesce(password, '') = '' then
    raise exception using errcode = '22023',
      message = 'dbname, username and password must not be empty';
  end if;
  perform bridge.check_tls(sslmode, sslrootcert);

  select coalesce(s.srvoptions, '{}') into existing
    from pg_catalog.pg_foreign_server s where s.srvname = 'events_ts';
  if sslrootcert is not null then
    server_options := server_options || jsonb_build_object('sslrootcert', sslrootcert);
  elsif exists (select from unnest(existing) o where o like 'sslrootcert=%') then
    alter server events_ts options (drop sslrootcert);
  end if;
  for option in select key, value from jsonb_each_text(server_options) loop
    execute format('alter server events_ts options (%s %I %L)',
      case when exists (select from unnest(existing) o where o like option.key || '=%')
        then 'set' else 'add' end,
      option.key, option.value);
  end loop;

  if exists (select from pg_catalog.pg_user_mappings m
              where m.srvname = 'events_ts' and m.usename = current_user) then
    execute format('alter user mapping for current_user server events_ts options (set user %L, set password %L)',
      username, password);
  else
    execute format('create user mapping for current_user server events_ts options (user %L, password %L)',
      username, password);
  end if;

  -- Every session, this one included, drops its cached link connection at its next use and
  -- reconnects with these settings. Connections already open on the node stay authenticated,
  -- so rotate by changing the node's password first, then calling configure
  -- (docs/operations.md).
  perform extensions.postgres_fdw_disconnect_all();
  perform bridge.verify_link('events_ts');
end;
$$;

revoke all on function bridge.configure(text, int, text, text, text, text, text) from public, anon, authenticated;
grant execute on function bridge.configure(text, int, text, text, text, text, text) to service_role;


-- ==== supabase/schemas/access.sql ====

-- Who may read what. Foreign tables ignore RLS (docs/design.md § foreign tables ignore RLS), so
-- the bridge's own rules stand in for it, each written once here and read by every step:
--
-- - public.missions: a signed-in user reads the missions bridge.readable_mission_ids allows,
--   the rule both the select policy and the activity step ask;
-- - public.event_scopes and bridge.event_access: which events a signed-in user sees, applied on
--   the node by bridge.events_in_scope and each node's scope view;
-- - bridge.caller_bypasses_rls: the one answer to "does this caller bypass RLS?", which decides
--   who sees every event and every mission, and who may read a statement's plan.

create table public.missions (
  id         bigint primary key,
  outcome    text,
  owner      uuid default auth.uid(),
  created_at timestamptz not null default now()
);

create index missions_owner on public.missions (owner);

alter table public.missions enable row level security;

revoke all on public.missions from anon;
revoke all on public.missions from authenticated;
grant select, insert, update, delete on public.missions to authenticated;
grant all on public.missions to service_role;

-- The missions a signed-in caller may read: their own. A set of ids rather than a predicate on
-- one row: a predicate function must carry `set search_path` (the advisors require it), which
-- keeps PostgreSQL from inlining it, so a policy would call it once per mission and the index on
-- owner could not serve it. The set is read once per statement, through that index, and probed
-- as a hash. SECURITY DEFINER, so reading public.missions from within its own policy does not
-- apply the policy again.
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

create policy "callers read the missions the rule allows" on public.missions
  for select to authenticated using (id in (select bridge.readable_mission_ids()));

create policy "owners add missions" on public.missions
  for insert to authenticated with check ((select auth.uid()) = owner);

create policy "owners change their missions" on public.missions
  for update to authenticated
  using ((select auth.uid()) = owner) with check ((select auth.uid()) = owner);

create policy "owners remove their missions" on public.missions
  for delete to authenticated using ((select auth.uid()) = owner);

-- public.event_scopes: who may see which events. Each row grants the events of one
-- pseudonymous user token, one agent or one site (location) to a Supabase user; RLS on this
-- table decides which grants a caller holds, and every events step reads the caller's grants
-- through it (bridge.events_in_scope below).
--
-- Operators manage it with ordinary SQL and policies. The policy below lets a signed-in user
-- hold the grants made to them; more permissive policies widen that (README: a team sees its
-- sites). Callers may only read their grants: inserting one would widen their own scope, so
-- only the owner and service_role write.

create table public.event_scopes (
  id         bigint generated always as identity primary key,
  user_id    uuid,
  kind       text not null check (kind in ('user_token', 'agent_key', 'location_key')),
  key        text not null,
  created_at timestamptz not null default now(),
  unique (user_id, kind, key)
);

comment on table public.event_scopes is
  'Grants of events to users: kind names the column of bridge.events that must equal key.';

alter table public.event_scopes enable row level security;

revoke all on public.event_scopes from anon, authenticated;
grant select on public.event_scopes to authenticated;
grant all on public.event_scopes to service_role;

create policy "users read their event scopes" on public.event_scopes
  for select to authenticated using ((select auth.uid()) = user_id);

-- bridge.event_access: whether a signed-in user's events are scoped (the default: they see the
-- events public.event_scopes grants them, and nothing without a grant) or open (every
-- signed-in user sees every event, for apps where that is intended). One row, changed by the
-- operator with ordinary SQL:
--
--   update bridge.event_access set mode = 'open';    -- or back to 'scoped'
--
-- Roles that bypass RLS (service_role) are never scoped. `npm run doctor` reports the mode.
-- Readable by the API roles, because the scope is read as the caller
-- (bridge.caller_sees_all_events); the mode is not a secret.

create table bridge.event_access (
  only_row boolean primary key default true check (only_row),
  mode     text not null default 'scoped' check (mode in ('scoped', 'open'))
);

insert into bridge.event_access default values on conflict do nothing;

revoke all on bridge.event_access from public, anon, authenticated, service_role;
grant select on bridge.event_access to authenticated, service_role;
grant update (mode) on bridge.event_access to service_role;

-- The one rule for "does the caller bypass RLS?" (service_role does, and so does postgres). It asks
-- the role the caller acts as: the role set for the call (SET ROLE, as the Edge Functions and
-- PostgREST do), else the session's. Not current_user: inside a SECURITY DEFINER step
-- current_user is the step's owner, whoever called it, while the role setting still names the
-- caller. In an invoker step and in a view's scope functions both name the same role, so
-- invoker and definer steps get the same answer from this one function.
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

-- Refuses explain_only to a caller that does not bypass RLS: plans name tables and show
-- arguments.
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

revoke all on function bridge.check_may_explain() from public, anon;
grant execute on function bridge.check_may_explain() to authenticated, service_role;

-- bridge.events_in_scope: bridge.events as the caller may see them. This view gives the foreign
-- table RLS's effect, decided by the policies of public.event_scopes, with the filter executed
-- on the Timescale node.
--
-- How the two sides meet. The view reads the foreign table with its owner's rights and user
-- mapping (postgres_fdw connects as the current user, here the view's owner:
-- docs/design.md § user mapping of the current user), so callers need no grant on bridge.events. Functions called
-- in a view run as the caller, so the scope functions below read public.event_scopes under the
-- caller's RLS: the policies decide, nothing here restates them, and nobody can hand the view a
-- scope of their choosing. Each scope function sits in a scalar subquery, which the planner runs
-- once before the scan and passes to postgres_fdw as a parameter, so the node receives
--   ($1::boolean OR user_token = ANY ($2::text[]) OR agent_key = ANY ($3::text[])
--    OR location_key = ANY ($4::text[]))
-- and top-k, counts and grouping are computed within the scope, never filtered afterwards.
--
-- Not security_barrier: that keeps the view from being flattened into the RPC's query, and
-- then ORDER BY ... LIMIT and GROUP BY no longer reach the node. The scope filter is built of
-- built-in operators and parameters only, so postgres_fdw always ships it: rows outside the
-- scope never leave the node, and no local function ever sees them.
--
-- Both scope functions are PL/pgSQL rather than SQL: PL/pgSQL keeps their statements' plans for
-- the session, where a SQL function plans its body again on every call; on the benchmark's data
-- that cost about 1 ms per search.

-- Whether the caller sees every event: a caller that bypasses RLS does, and so does every caller
-- while bridge.event_access is 'open'.
create or replace function bridge.caller_sees_all_events()
returns boolean
language plpgsql
stable
security invoker
set search_path = ''
as $$
begin
  return bridge.caller_bypasses_rls()
      or exists (select from bridge.event_access a where a.mode = 'open');
end;
$$;

revoke all on function bridge.caller_sees_all_events() from public, anon;
grant execute on function bridge.caller_sees_all_events() to authenticated, service_role;

-- The keys of one kind ('user_token', 'agent_key' or 'location_key') in the grants the caller
-- can read in public.event_scopes: RLS decides which those are. None for a caller who sees
-- every event, so service_role's calls carry no list of everyone's grants to the node.
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

revoke all on function bridge.caller_event_keys(text) from public, anon;
grant execute on function bridge.caller_event_keys(text) to authenticated, service_role;

-- The select that scopes a relation's events to the caller, on the relation aliased `e`: the one
-- definition of the scope, from which bridge.events_in_scope and each node's scope view
-- (bridge.lay_out_nodes) are made.
create or replace function bridge.events_in_scope_query(source text)
returns text
language sql
immutable
set search_path = ''
as $$
  select format(
    'select e.event_time, e.user_token, e.agent_key, e.device_key, e.location_key, e.event_type,
            e.data_payload_proc, e.event_embedding
       from %s e
      where (select bridge.caller_sees_all_events())
         or e.user_token = any ((select bridge.caller_event_keys(''user_token''))::text[])
         or e.agent_key = any ((select bridge.caller_event_keys(''agent_key''))::text[])
         or e.location_key = any ((select bridge.caller_event_keys(''location_key''))::text[])',
    source)
$$;

revoke all on function bridge.events_in_scope_query(text) from public, anon, authenticated, service_role;

do $$
begin
  execute 'create view bridge.events_in_scope as '
    || bridge.events_in_scope_query('bridge.events');
end;
$$;

revoke all on bridge.events_in_scope from public, anon, authenticated, service_role;
grant select on bridge.events_in_scope to authenticated, service_role;

-- ==== supabase/schemas/nodes.sql ====

-- The nodes behind the bridge and how its tables are laid out over them.
--
-- A node is a Timescale host holding one slice of the data: either a time range of event_time
-- (hot and cold tiers) or the rows whose value of one column is in a list (one node per site,
-- say location_key). The default node is the one bridge.configure links (server events_ts): it
-- has no slice and holds every row no other node's slice covers. With the default node alone,
-- which is where every project starts, bridge.events and bridge.activity_log are its foreign
-- tables (link.sql). Every sliced node slices by the same column, because a partitioned table
-- has one partition key. Slices never overlap.
--
-- Once another node is attached (topology.sql), bridge.lay_out_nodes makes each table a
-- partitioned table, by range of event_time or by list of the sliced column, whose partitions
-- are foreign tables, one per node: bridge.<table>_at_<node>, with the node's slice as its
-- bounds, and the default node's table as the default partition. Views on the tables
-- (bridge.events_in_scope among them) are kept: dropped and made again with their definition,
-- owner and grants. Each node's events also get a scope view, bridge.events_in_scope_at_<node>,
-- made from the one scope query (access.sql): the steps send one statement per node through it,
-- with ORDER BY, LIMIT and GROUP BY in each node's Remote SQL, which a scan of the partitioned
-- table cannot have (PostgreSQL 15 pushes no LIMIT through an Append).
--
-- A list slice on a column activity_log lacks (location_key, say: activity rows name a mission,
-- not a site) does not split activity_log: such nodes hold no activity the bridge reads, and
-- bridge.activity_log stays the default node's foreign table. Write activity to the default
-- node. A time slice splits both tables, since both have event_time.
--
-- A partition's bounds are not checked on a foreign table: rows on a node outside its slice (a
-- day copied to a cold node before the boundary moves) are still read by a plain
-- `select from bridge.events`. The steps therefore send each node its own slice as a predicate,
-- and ask only the nodes whose slice can hold rows the call wants (bridge.node_branches).

create table bridge.nodes (
  name text primary key
    constraint node_name_shape check (name ~ '^[a-z][a-z0-9_]{0,39}$'),
  server name not null unique,
  -- A time slice: [lower, upper) of event_time, either end open (unbounded).
  time_range tstzrange,
  -- A list slice: the rows whose list_column is one of list_values.
  list_column name,
  list_values text[],
  constraint one_kind_of_slice check (
    (time_range is null or (list_column is null and list_values is null))
    and (list_column is null) = (list_values is null)),
  constraint only_the_default_is_unsliced check (
    (name = 'default') = (time_range is null and list_column is null))
);

revoke all on bridge.nodes from public, anon, authenticated, service_role;
grant select on bridge.nodes to service_role;

insert into bridge.nodes (name, server) values ('default', 'events_ts');

-- The slice of a node in words, e.g. `event_time in [2026-10-01 00:00:00+00, infinity)` or
-- `location_key in (loc-001, loc-002)`; for the default node, `every row no other node holds`.
create or replace function bridge.slice_in_words(n bridge.nodes)
returns text
language sql
stable
set search_path = ''
as $$
  select case
    when n.time_range is not null then format('event_time in [%s, %s)',
      coalesce(lower(n.time_range)::text, '-infinity'),
      coalesce(upper(n.time_range)::text, 'infinity'))
    when n.list_column is not null then format('%s in (%s)', n.list_column,
      array_to_string(n.list_values, ', '))
    else 'every row no other node holds'
  end
$$;

revoke all on function bridge.slice_in_words(bridge.nodes) from public, anon, authenticated;
grant execute on function bridge.slice_in_words(bridge.nodes) to service_role;

-- The catalog for readers. events, events_in_scope and activity_log name the relation that reads
-- each table on that node: with the default node alone, bridge.events, bridge.events_in_scope
-- and bridge.activity_log themselves; with several, the node's partition (bridge.<table>_at_<node>)
-- and its scope view. A node has no activity_log when its slice's column is one activity_log
-- lacks.
create or replace view bridge.node_slices as
  select n.name, n.server, bridge.slice_in_words(n) as slice,
         coalesce(to_regclass(format('bridge.%I', 'events_at_' || n.name)),
                  case when n.name = 'default' then to_regclass('bridge.events') end) as events,
         coalesce(to_regclass(format('bridge.%I', 'events_in_scope_at_' || n.name)),
                  case when n.name = 'default' then to_regclass('bridge.events_in_scope') end)
           as events_in_scope,
         coalesce(to_regclass(format('bridge.%I', 'activity_log_at_' || n.name)),
                  case when n.name = 'default'
                       then to_regclass('bridge.activity_log') end) as activity_log
    from bridge.nodes n;

revoke all on bridge.node_slices from public, anon, authenticated, service_role;
grant select on bridge.node_slices to service_role;

-- The predicate that holds inside a sliced node's slice, on a relation aliased `alias`: built-in
-- operators and constants only, so postgres_fdw ships it.
create or replace function bridge.slice_predicate(n bridge.nodes, alias text)
returns text
language sql
immutable
set search_path = ''
as $$
  select case
    when n.list_column is not null then
      format('%I.%I = any (%L::text[])', alias, n.list_column, n.list_values)
    when lower(n.time_range) is null then
      format('%I.event_time < %L::timestamptz', alias, upper(n.time_range))
    when upper(n.time_range) is null then
      format('%I.event_time >= %L::timestamptz', alias, lower(n.time_range))
    else format('%I.event_time >= %L::timestamptz and %I.event_time < %L::timestamptz',
      alias, lower(n.time_range), alias, upper(n.time_range))
  end
$$;

revoke all on function bridge.slice_predicate(bridge.nodes, text) from public, anon, authenticated, service_role;

-- Which nodes a call must ask, what to read on each, and the slice each must send as a
-- predicate. A node is asked only when its slice can hold rows the call wants: its time range
-- meets the call's window, and its list of values meets the call's equality filter on the list
-- column. The default node holds what no other node's slice covers, so it is asked when that
-- remainder can match. Each node asked gets its own slice as a predicate (the default node:
-- outside every other slice), so rows that sit on a node outside its slice are never returned
-- twice.
--
-- With the default node alone there is one branch, the whole table and no predicate. When
-- nothing can match (an empty window), the default node's branch comes back with a predicate
-- that is false, so the statement keeps its shape and the planner asks no node at all.
--
-- SECURITY DEFINER: callers may not read the catalog. Reading it holds a lock on it until the end
-- of the caller's transaction, which bridge.attach_node, detach_node and move_boundary wait for,
-- so a step sees either the topology before such a call or the one after it.
create or replace function bridge.node_branches(
  relation text,
  alias text,
  time_from timestamptz,
  time_to timestamptz,
  equal_to jsonb default '{}'
) returns table (node text, source text, slice text)
language plpgsql
stable
security definer
set search_path = ''
as $$
declare
  base text := case relation when 'events_in_scope' then 'events' else relation end;
  window_range tstzrange := case when time_from >= time_to then 'empty'
                                 else tstzrange(time_from, time_to, '[)') end;
  list_column text := (select b.list_column from bridge.nodes b
                        where b.list_column is not null limit 1);
  -- The values of list_column the call asks for, or null when it does not filter on it.
  wanted text[];
  -- The times no sliced node holds: the default node's share of a tiered layout.
  default_times tstzmultirange;
  outside text;
  n bridge.nodes;
begin
  if relation is null or relation not in ('events_in_scope', 'activity_log') then
    raise exception using errcode = '22023',
      message = format('relation must be events_in_scope or activity_log, got %s', relation);
  end if;
  if to_regclass(format('bridge.%I', base || '_at_default')) is null then
    return query select 'default', format('bridge.%I', relation), '';
    return;
  end if;

  if equal_to ? list_column then
    wanted := array(select jsonb_array_elements_text(equal_to -> list_column));
  end if;
  select tstzmultirange(tstzrange(null, null)) - coalesce(range_agg(b.time_range), '{}'),
         string_agg(format(' and not (%s)', bridge.slice_predicate(b, alias)), '' order by b.name)
    into default_times, outside
    from bridge.nodes b where b.name <> 'default';

  for n in select * from bridge.nodes b order by b.name = 'default', b.name loop
    continue when n.time_range is not null and not n.time_range && window_range;
    continue when n.list_values is not null and not n.list_values && wanted;
    if n.name = 'default' then
      continue when list_column is null and not default_times && window_range;
      continue when wanted is not null and not exists (select from unnest(wanted) w
                                 where not exists (select from bridge.nodes b
                                                    where w = any (b.list_values)));
    end if;
    node := n.name;
    source := format('bridge.%I', relation || '_at_' || n.name);
    slice := case when n.name = 'default' then outside
                  else ' and ' || bridge.slice_predicate(n, alias) end;
    return next;
  end loop;

  if node is null then
    return query select 'default', format('bridge.%I', relation || '_at_default'), ' and false';
  end if;
end;
$$;

revoke all on function bridge.node_branches(text, text, timestamptz, timestamptz, jsonb) from public, anon;
grant execute on function bridge.node_branches(text, text, timestamptz, timestamptz, jsonb) to authenticated, service_role;

-- Drops the views on `relation` and returns what makes them again (bridge.create_views).
create or replace function bridge.drop_views_on(relation regclass)
returns jsonb
language plpgsql
set search_path = ''
as $$
declare
  views jsonb;
  saved record;
begin
  select coalesce(jsonb_agg(jsonb_build_object(
           'name', format('%I.%I', n.nspname, v.relname),
           'definition', pg_catalog.pg_get_viewdef(v.oid),
           'options', v.reloptions,
           'owner', v.relowner::regrole::text,
           'acl', v.relacl)), '[]')
    into views
    from pg_catalog.pg_class v
    join pg_catalog.pg_namespace n on n.oid = v.relnamespace
   where v.relkind = 'v'
     and v.oid in (select r.ev_class
                     from pg_catalog.pg_depend d
                     join pg_catalog.pg_rewrite r on r.oid = d.objid
                    where d.classid = 'pg_catalog.pg_rewrite'::regclass
                      and d.refclassid = 'pg_catalog.pg_class'::regclass
                      and d.refobjid = relation)
     and v.oid <> relation;
  for saved in select * from jsonb_to_recordset(views) as r(name text) loop
    execute format('drop view %s', saved.name);
  end loop;
  return views;
end;
$$;

revoke all on function bridge.drop_views_on(regclass) from public, anon, authenticated, service_role;

-- Makes again the views bridge.drop_views_on dropped, with their options, owner and grants.
create or replace function bridge.create_views(views jsonb)
returns void
language plpgsql
set search_path = ''
as $$
declare
  saved record;
  grant_row record;
begin
  for saved in
    select * from jsonb_to_recordset(views)
           as r(name text, definition text, options text[], owner text, acl aclitem[])
  loop
    execute format('create view %s%s as %s', saved.name,
      case when saved.options is null then ''
           else format(' with (%s)', array_to_string(saved.options, ', ')) end,
      saved.definition);
    execute format('alter view %s owner to %I', saved.name, saved.owner);
    for grant_row in
      select a.privilege_type, a.is_grantable, coalesce(quote_ident(r.rolname), 'public') as grantee
        from aclexplode(saved.acl) a
        left join pg_catalog.pg_roles r on r.oid = a.grantee
       where r.rolname is distinct from saved.owner
    loop
      execute format('grant %s on %s to %s%s', grant_row.privilege_type, saved.name,
        grant_row.grantee, case when grant_row.is_grantable then ' with grant option' else '' end);
    end loop;
  end loop;
end;
$$;

revoke all on function bridge.create_views(jsonb) from public, anon, authenticated, service_role;

-- Lays bridge.events and bridge.activity_log out as the catalog says: first back to the default
-- node's foreign tables, then, when other nodes are attached (and `with_nodes`), into
-- partitioned tables. Foreign tables hold no data, so this moves nothing; it runs inside the
-- caller's transaction, whose locks keep every reader out until it commits. With `with_nodes`
-- false it leaves the default node's tables alone, as bridge.refresh_foreign_tables needs them.
create or replace function bridge.lay_out_nodes(with_nodes boolean default true)
returns void
language plpgsql
set search_path = ''
-- Attaching a partition beside a foreign default partition warns that the default's rows were
-- not checked against the new bounds: expected here, since the steps send each node its slice.
set client_min_messages = error
as $$
declare
  partition_key text := (select coalesce(n.list_column::text, 'event_time') from bridge.nodes n
                          where n.name <> 'default' and with_nodes limit 1);
  strategy text := (select case when n.list_column is null then 'range' else 'list' end
                      from bridge.nodes n where n.name <> 'default' limit 1);
  tables constant text[] := array['events', 'activity_log'];
  table_name text;
  views jsonb;
  part record;
  node record;
begin
  for part in
    select c.relname from pg_catalog.pg_class c
     where c.relnamespace = 'bridge'::regnamespace and c.relkind = 'v'
       and c.relname like 'events\_in\_scope\_at\_%'
  loop
    execute format('drop view bridge.%I', part.relname);
  end loop;

  foreach table_name in array tables loop
    -- Nothing to do for a table that is and stays the default node's foreign table.
    continue when partition_key is null
      and (select c.relkind from pg_catalog.pg_class c
            where c.oid = format('bridge.%I', table_name)::regclass) = 'f';
    views := bridge.drop_views_on(format('bridge.%I', table_name)::regclass);

    -- Back to one node: the default node's foreign table under the table's own name.
    if (select c.relkind from pg_catalog.pg_class c
         where c.oid = format('bridge.%I', table_name)::regclass) = 'p' then
      for part in
        select i.inhrelid::regclass as relation
          from pg_catalog.pg_inherits i
         where i.inhparent = format('bridge.%I', table_name)::regclass
           and i.inhrelid <> format('bridge.%I', table_name || '_at_default')::regclass
      loop
        execute format('drop foreign table %s', part.relation);
      end loop;
      execute format('alter table bridge.%I detach partition bridge.%I', table_name,
        table_name || '_at_default');
      execute format('drop table bridge.%I', table_name);
      execute format('alter foreign table bridge.%I rename to %I', table_name || '_at_default',
        table_name);
    end if;

    -- Then partitioned, when another node is attached and the table has the sliced column.
    if partition_key is not null and exists (
         select from pg_catalog.pg_attribute a
          where a.attrelid = format('bridge.%I', table_name)::regclass
            and a.attname = partition_key and not a.attisdropped) then
      execute format('alter foreign table bridge.%I rename to %I', table_name,
        table_name || '_at_default');
      execute format('create table bridge.%I (like bridge.%I) partition by %s (%I)', table_name,
        table_name || '_at_default', strategy, partition_key);
      execute format('revoke all on bridge.%I from public, anon, authenticated, service_role',
        table_name);
      execute format('alter table bridge.%I attach partition bridge.%I default', table_name,
        table_name || '_at_default');
      for node in select * from bridge.nodes n where n.name <> 'default' order by n.name loop
        execute format(
          'create foreign table bridge.%I partition of bridge.%I for values %s
             server %I options (schema_name %L, table_name %L)',
          table_name || '_at_' || node.name, table_name,
          case when strategy = 'list' then format('in (%s)',
                 (select string_agg(quote_literal(v), ', ') from unnest(node.list_values) v))
               else format('from (%s) to (%s)',
                 coalesce(quote_literal(lower(node.time_range)), 'minvalue'),
                 coalesce(quote_literal(upper(node.time_range)), 'maxvalue')) end,
          node.server, 'export', table_name);
        execute format('revoke all on bridge.%I from public, anon, authenticated, service_role',
          table_name || '_at_' || node.name);
      end loop;
    end if;

    perform bridge.create_views(views);
  end loop;

  if partition_key is not null then
    for node in select n.name from bridge.nodes n order by n.name loop
      execute format('create view bridge.%I as %s', 'events_in_scope_at_' || node.name,
        bridge.events_in_scope_query(format('bridge.%I', 'events_at_' || node.name)));
      execute format('revoke all on bridge.%I from public, anon, authenticated, service_role',
        'events_in_scope_at_' || node.name);
      execute format('grant select on bridge.%I to authenticated, service_role',
        'events_in_scope_at_' || node.name);
    end loop;
  end if;
end;
$$;

revoke all on function bridge.lay_out_nodes(boolean) from public, anon, authenticated, service_role;



-- ==== supabase/schemas/ask_nodes.sql ====

-- One round trip per node: a step asks the nodes through dblink on connections kept for the
-- session, every node at once, instead of through postgres_fdw's cursor, which costs five or more
-- round trips per node and call (START TRANSACTION, DECLARE, FETCH, CLOSE, COMMIT; docs/design.md
-- § round trips per call). The activity step (mission_activity.sql) asks its nodes this way.
--
-- bridge.ask_nodes sends each node one statement and returns each node's answer: the statement
-- answers one row, a jsonb array of its rows, so one reader serves any step. It and its helpers
-- below are the only code that calls dblink, and only the bridge's owner may call them: they run
-- whatever statement they are given, so a step that uses them is SECURITY DEFINER and composes
-- every statement itself, every caller value a quoted literal with an explicit cast (format %L).
--
-- Connections are named after the node's foreign server and opened by that name, so the link
-- role, its password and connect_timeout come from the server and the user mapping, never from
-- SQL text. They are kept for the session and reused only when healthy: a connection left busy
-- (a call that failed half-way) or seen closed by the node is replaced before the statement is
-- sent, and a call whose kept connection the node closed unseen (a restart between two calls) is
-- sent once more on new connections, so it does not fail.
--
-- The wait for the answers polls dblink_is_busy with a short sleep: PostgreSQL 15's dblink waits
-- for a result without looking at interrupts, so statement_timeout would not end a wait for a
-- slow node. When the call fails or is cancelled, every node still working is sent a cancel and
-- every connection of the call is closed: nothing half-read is ever reused.
--
-- The foreign tables stay, for users' own SQL and for the events steps, with their pushdown: those steps read the caller's scope through the policies of public.event_scopes, which
-- only code running as the caller can evaluate, and dblink must stay behind a definer step.

-- The node's relation behind a foreign table, as the node names it (e.g. export.activity_log).
create or replace function bridge.remote_relation(foreign_table regclass)
returns text
language sql
stable
set search_path = ''
as $$
  select format('%I.%I',
    (select o.option_value from pg_catalog.pg_options_to_table(t.ftoptions) o
      where o.option_name = 'schema_name'),
    (select o.option_value from pg_catalog.pg_options_to_table(t.ftoptions) o
      where o.option_name = 'table_name'))
    from pg_catalog.pg_foreign_table t
   where t.ftrelid = foreign_table
$$;

revoke all on function bridge.remote_relation(regclass) from public, anon, authenticated, service_role;

-- Opens the kept connection to `server`, by the server's name and this role's user mapping. Its
-- statements see only pg_catalog unless they name a schema, as postgres_fdw's do. On the node,
-- pg_stat_activity names the session `fdw-bridge <pid>`, the pid of the Supabase backend that
-- holds it, so each link session can be traced to its holder.
create or replace function bridge.connect_node(server name)
returns void
language plpgsql
set search_path = ''
as $$
begin
  perform extensions.dblink_connect(server, server);
  perform extensions.dblink_exec(server, format(
    'set search_path = pg_catalog; set application_name = %L',
    'fdw-bridge ' || pg_catalog.pg_backend_pid()));
exception when others then
  if server = any (coalesce(extensions.dblink_get_connections(), '{}')) then
    perform extensions.dblink_disconnect(server);
  end if;
  raise exception using errcode = '08001',
    message = format('could not connect to the node of server "%s": %s', server, sqlerrm);
end;
$$;

revoke all on function bridge.connect_node(name) from public, anon, authenticated, service_role;

-- Sends `statement` to `server` on its kept connection, opening or replacing it when needed;
-- whether it went on a connection kept from an earlier call.
create or replace function bridge.send_to_node(server name, statement text)
returns boolean
language plpgsql
set search_path = ''
-- dblink_send_query reports a send on a closed connection as a notice, then returns 0.
set client_min_messages = warning
as $$
begin
  if not server = any (coalesce(extensions.dblink_get_connections(), '{}')) then
    perform bridge.connect_node(server);
  elsif extensions.dblink_is_busy(server) = 1 then
    -- Still answering a statement nobody will read: never reused.
    perform extensions.dblink_cancel_query(server);
    perform extensions.dblink_disconnect(server);
    perform bridge.connect_node(server);
  else
    -- dblink_is_busy above has read what the node sent since the last call: when the node has
    -- closed the connection, the send fails without a round trip.
    if extensions.dblink_send_query(server, statement) = 1 then
      return true;
    end if;
    perform extensions.dblink_disconnect(server);
    perform bridge.connect_node(server);
  end if;
  if extensions.dblink_send_query(server, statement) <> 1 then
    perform extensions.dblink_disconnect(server);
    raise exception using errcode = '08006',
      message = format('could not send the statement to the node of server "%s"', server);
  end if;
  return false;
end;
$$;

revoke all on function bridge.send_to_node(name, text) from public, anon, authenticated, service_role;

-- Closes the connections of `servers`, first cancelling what a node still runs for them.
create or replace function bridge.drop_node_connections(servers name[])
returns void
language plpgsql
set search_path = ''
as $$
declare
  server name;
begin
  foreach server in array servers loop
    continue when not server = any (coalesce(extensions.dblink_get_connections(), '{}'));
    begin
      if extensions.dblink_is_busy(server) = 1 then
        perform extensions.dblink_cancel_query(server);
      end if;
    exception when others then
      null;  -- a broken connection has nothing left to cancel: it is closed below all the same
    end;
    perform extensions.dblink_disconnect(server);
  end loop;
end;
$$;

revoke all on function bridge.drop_node_connections(name[]) from public, anon, authenticated, service_role;

-- Sends statements[i] to servers[i], all before waiting for any, and returns each node's answer:
-- the one jsonb value its statement selects. A node's error is raised with its SQLSTATE and the
-- server's name in the message (functions/_shared/db.ts names the node of a 503 from it).
--
-- A kept connection can be closed by its node just before or while the statement is sent (the
-- node restarted, or ended the session): the send succeeds and the answer is a connection
-- failure, or the node's message that it ended the session. Then the call is made once more on
-- new connections; a failure on new connections is the node's.
create or replace function bridge.ask_nodes(servers name[], statements text[])
returns table (server name, answer jsonb)
language plpgsql
volatile
set search_path = ''
as $$
declare
  answers jsonb[];
  any_kept boolean;
  retried boolean := false;
  reading name;
  failed_state text;
  failed_message text;
begin
  if cardinality(servers) is distinct from cardinality(statements) then
    raise exception using errcode = '22023',
      message = 'ask_nodes needs one statement per server';
  end if;
  loop
    begin
      any_kept := false;
      reading := null;
      for i in 1 .. cardinality(servers) loop
        any_kept := bridge.send_to_node(servers[i], statements[i]) or any_kept;
      end loop;
      -- Interruptible: statement_timeout and a cancel end the sleep.
      while exists (select from unnest(servers) s where extensions.dblink_is_busy(s) = 1) loop
        perform pg_catalog.pg_sleep(0.001);
      end loop;
      for i in 1 .. cardinality(servers) loop
        reading := servers[i];
        select r.answer into answer from extensions.dblink_get_result(servers[i]) as r(answer jsonb);
        answers[i] := answer;
        -- The end of the node's results, which frees the connection for the next statement.
        perform from extensions.dblink_get_result(servers[i]) as r(answer jsonb);
      end loop;
      return query select s.server, s.answer from unnest(servers, answers) as s(server, answer);
      return;
    exception when query_canceled or others then
      get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text;
      perform bridge.drop_node_connections(servers);
      if reading is null or failed_state = '57014' then
        raise;
      end if;
      -- Class 08, or the node ending the session (57P01..57P03): the connection is gone.
      if not (any_kept and not retried
              and (failed_state like '08%' or failed_state in ('57P01', '57P02', '57P03'))) then
        raise exception using errcode = failed_state,
          message = format('the node of server "%s" failed: %s', reading, failed_message);
      end if;
      retried := true;
    end;
  end loop;
end;
$$;

revoke all on function bridge.ask_nodes(name[], text[]) from public, anon, authenticated, service_role;

-- ==== supabase/schemas/search_events.sql ====

-- public.search_events: the k events nearest a query embedding, within the caller's scope and
-- the given filters, computed on the nodes. public.search_events is the RPC callers see and
-- runs as the caller; bridge.nearest_events is its step: it checks the arguments, builds the
-- statement and runs it, or EXPLAINs it (explain_only => true), so bridge_health, the doctor and
-- the benchmark read the plan of the very statement callers run. Plans name tables and show
-- arguments, so only a caller that bypasses RLS may ask for one (bridge.check_may_explain).
-- PostgreSQL allows EXPLAIN only in a volatile function, so the step is volatile; it still only
-- reads, and the RPC stays stable.
--
-- Each node that can hold matching rows (bridge.node_branches) gets a statement of its own on
-- its scope view, with its slice as a predicate: it runs ORDER BY <=> LIMIT k on its HNSW index,
-- so at most k rows per node cross, and the top k of those is the answer. The merge orders by
-- distance, then event_time: an order no branch gives, so the planner appends the branches and
-- sorts them (an Append, whose foreign scans run asynchronously, all nodes at once) rather than
-- merging them in order (a Merge Append, which asks the nodes one after another:
-- docs/design.md § async plan shapes). Incremental sort is off for the same reason: it would sort
-- a Merge Append of the branches by event_time. With several nodes the merge must sort, which
-- enable_sort = off prices as a disabled plan; the cost then passes jit_above_cost, and JIT
-- compiling would add more time than the whole call takes, so JIT is off.
--
-- With the default node alone there is one branch, and the statement is that node's top-k.

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

  -- The caller's scope is applied by each node's scope view (access.sql, nodes.sql).
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

revoke all on function bridge.nearest_events(extensions.vector, int, text[], text, text, text, text, timestamptz, timestamptz, float8, boolean) from public, anon;
grant execute on function bridge.nearest_events(extensions.vector, int, text[], text, text, text, text, timestamptz, timestamptz, float8, boolean) to authenticated, service_role;

-- The RPC callers see: the step's rows without its plan column.
create or replace function public.search_events(
  query_embedding extensions.vector(768),
  match_count int default 10,
  event_types text[] default null,
  user_token text default null,
  agent_key text default null,
  device_key text default null,
  location_key text default null,
  time_from timestamptz default null,
  time_to timestamptz default null,
  max_distance float8 default null
) returns table (
  event_time timestamptz,
  user_token text,
  agent_key text,
  device_key text,
  location_key text,
  event_type text,
  data_payload_proc jsonb,
  distance float8
)
language sql
stable
security invoker
set search_path = ''
as $$
  select n.event_time, n.user_token, n.agent_key, n.device_key, n.location_key, n.event_type,
         n.data_payload_proc, n.distance
    from bridge.nearest_events(query_embedding, match_count, event_types, user_token, agent_key,
           device_key, location_key, time_from, time_to, max_distance) n
$$;

revoke all on function public.search_events(extensions.vector, int, text[], text, text, text, text, timestamptz, timestamptz, float8) from public, anon;
grant execute on function public.search_events(extensions.vector, int, text[], text, text, text, text, timestamptz, timestamptz, float8) to authenticated, service_role;


-- ==== supabase/schemas/event_histogram.sql ====

-- public.event_histogram: how many events of each type fall in each time bucket, within the
-- caller's scope, counted on the nodes. public.event_histogram is the RPC callers see and runs
-- as the caller; bridge.event_counts is its step, explainable as bridge.nearest_events is.
--
-- A bucket is one of the widths people chart by (bridge.histogram_buckets), as the
-- event-histogram function has it (functions/_shared/interval.ts): a fixed set keeps every
-- bucket count known in advance and every chart's buckets aligned, which arbitrary widths such
-- as '7 hours' or '90 seconds' would not.
--
-- Each node groups and counts; only counts cross, summed here. The sum groups by event_type,
-- then bucket, an order no branch can give (PostgreSQL 15 groups in the order written unless the
-- same level sorts otherwise, hence the sort one level up): merging branches sorted on the node
-- would let the planner group them here instead of on the node. The sum still selects the
-- branches' columns in their own order (bucket_start, event_type, events): in another order
-- PostgreSQL 15 keeps a Subquery Scan above each node's grouped scan, which cannot run
-- asynchronously, and the nodes would be asked one after another
-- (docs/design.md § async plan shapes). JIT is off for the reason bridge.nearest_events gives.

-- The accepted buckets, as people write them.
create or replace function bridge.histogram_buckets()
returns text[]
language sql
immutable
set search_path = ''
as $$
  select array['10 seconds', '30 seconds', '1 minute', '5 minutes', '10 minutes', '15 minutes',
               '30 minutes', '1 hour', '3 hours', '6 hours', '12 hours', '1 day',
               '7 days']
$$;

revoke all on function bridge.histogram_buckets() from public, anon;
grant execute on function bridge.histogram_buckets() to authenticated, service_role;

-- The step: checks the arguments, then counts on the nodes, or EXPLAINs the statement
-- (explain_only => true, as bridge.nearest_events does, search_events.sql).
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
  -- caller's scope is applied by each node's scope view (access.sql, nodes.sql).
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

revoke all on function bridge.event_counts(interval, timestamptz, timestamptz, text[], boolean) from public, anon;
grant execute on function bridge.event_counts(interval, timestamptz, timestamptz, text[], boolean) to authenticated, service_role;

-- PostgreSQL 17 reorders GROUP BY keys to match its input (enable_group_by_reordering, new in 17):
-- it would merge the nodes' branches sorted and count every event here, instead of taking each
-- node's pushed-down GROUP BY (docs/design.md § 17 reorders GROUP BY keys). Off for this step, 17
-- plans as 15 does; 15 has no such setting. A project upgraded from 15 to 17 in place runs this
-- statement again.
do $$
begin
  if pg_catalog.current_setting('server_version_num')::int >= 170000 then
    alter function bridge.event_counts(interval, timestamptz, timestamptz, text[], boolean)
      set enable_group_by_reordering = off;
  end if;
end;
$$;

-- The RPC callers see: the step's counts without its plan column.
create or replace function public.event_histogram(
  bucket interval,
  time_from timestamptz,
  time_to timestamptz,
  event_types text[] default null
) returns table (
  bucket_start timestamptz,
  event_type text,
  events bigint
)
language sql
stable
security invoker
set search_path = ''
as $$
  select c.bucket_start, c.event_type, c.events
    from bridge.event_counts(bucket, time_from, time_to, event_types) c
$$;

revoke all on function public.event_histogram(interval, timestamptz, timestamptz, text[]) from public, anon;
grant execute on function public.event_histogram(interval, timestamptz, timestamptz, text[]) to authenticated, service_role;

-- ==== supabase/schemas/mission_activity.sql ====

-- public.mission_activity: the activity of the given missions, newest first, in pages that cannot
-- lose a row. public.mission_activity runs as the caller, so RLS on public.missions decides
-- which requested ids are visible; bridge.mission_activity_rows is the narrow definer step that
-- asks the nodes for those ids only (one round trip per node: ask_nodes.sql) and checks them
-- again against the rule, so calling it directly cannot widen what a caller sees. The ids reach the node as
-- mission_id = any(...), never as a join (docs/design.md § local filters pull the whole table).
--
-- Rows come in a total order, newest first and then by (mission_id, agent_id, action, details),
-- and each carries tie_position, its 1-based place among the rows of its event_time in that
-- order. The next page is asked for with before => the last row's event_time and
-- before_position => its tie_position: the rows at exactly `before` after that place, then the
-- older ones. The node applies it as event_time <= before ... order by ... offset
-- before_position. `before` without before_position skips every row at `before`.
--
-- Each node that can hold rows in the call's window (bridge.node_branches) gets a statement of
-- its own with its slice as a predicate, and the pages are merged here in the same total order.
-- A node's page is max_rows long, plus before_position when the cursor skips rows at `before`:
-- the OFFSET applies to the merged rows, so each node must send every row that could be among
-- them.
--
-- For up to 50 missions the node is asked to order by an expression equal to event_time that
-- its event_time index cannot serve, so it reads those missions' (mission_id, event_time) index
-- ranges instead of walking the whole table back in time
-- (docs/design.md § the node's best plan): on 1M activity rows, the newest 100 rows of 10
-- missions took 2.4 ms this way and 40 ms walking back; of 100 missions, 17 ms this way and 7 ms
-- walking back.

-- The argument rules both steps enforce: the API step before it reads anything, the definer step
-- for direct calls.
create or replace function bridge.check_activity_arguments(
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

-- The definer step: reads the activity of the requested missions the caller may read (the rule
-- bridge.readable_mission_ids, access.sql, or all of them for a caller that bypasses RLS). Each
-- node that can hold rows in the call's window (bridge.node_branches) is asked through
-- bridge.ask_nodes for mission_id = any(the visible missions), the filters, its slice, the
-- newest-first order and a LIMIT, every caller value a literal; only the page crosses. With one
-- node the rows keep the node's order, OFFSET included; with several the pages are merged here.
-- explain_only returns the statement each node is sent: {"Nodes": [{"Node", "Server",
-- "Relation", "Remote SQL"}]}, the relation being the foreign table that names the node's.
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
-- Times and arrays are written into the statements as literals: ISO, which every node reads
-- the same way whatever its DateStyle.
set datestyle = 'ISO, YMD'
as $$
declare
  caller_bypasses_rls boolean := bridge.caller_bypasses_rls();
  visible bigint[];
  filters text := '';
  page int := max_rows;
  skipped text := '';
  newest_first text := 'a.event_time';
  nodes jsonb;
  previous_time timestamptz;
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

  if time_from is not null then
    filters := filters || format(' and a.event_time >= %L::timestamptz', time_from);
  end if;
  if time_to is not null then
    filters := filters || format(' and a.event_time < %L::timestamptz', time_to);
  end if;
  if actions is not null then
    filters := filters || format(' and a.action = any (%L::text[])', actions);
  end if;
  if before is not null and before_position is null then
    filters := filters || format(' and a.event_time < %L::timestamptz', before);
  elsif before is not null then
    -- The rows at exactly `before` come first in this order: skip the ones already returned.
    filters := filters || format(' and a.event_time <= %L::timestamptz', before);
    skipped := format(' offset %s', before_position);
    page := max_rows + before_position;
  end if;

  -- For a few missions, an order no node index gives makes the node read those missions'
  -- (mission_id, event_time) index ranges instead of walking back in time (docs/design.md § the
  -- node's best plan).
  if cardinality(visible) <= 50 then
    newest_first := 'date_bin(''1 microsecond'', a.event_time, ''2000-01-01 00:00+00'')';
  end if;

  with branch as (
    select b.node, n.server, b.source, b.slice, count(*) over () as branches
      from bridge.node_branches('activity_log', 'a', time_from,
             least(time_to, before + case when before_position is null then interval '0'
                                          else interval '1 microsecond' end)) b
      join bridge.nodes n on n.name = b.node)
  select jsonb_agg(jsonb_build_object('Node', b.node, 'Server', b.server, 'Relation', b.source,
           'Remote SQL', format(
           'select coalesce(jsonb_agg(r), ''[]'') from (
  select a.mission_id, a.event_time, a.agent_id, a.action, a.details
    from %s a
   where a.mission_id = any (%L::bigint[])%s%s
   order by %s desc, a.mission_id, a.agent_id, a.action, a.details
   limit %s) r',
           bridge.remote_relation(b.source::regclass), coalesce(visible, '{}'), filters, b.slice,
           newest_first, case when b.branches = 1 then max_rows || skipped else page::text end))
           order by b.node)
    into nodes
    from branch b;

  if explain_only then
    -- One row: the statements, and no activity.
    return query select null::bigint, null::timestamptz, null::bigint, null::text, null::jsonb,
      null::int, jsonb_build_object('Nodes', nodes);
    return;
  end if;

  -- Read in the merged order, so each row's place among its event_time's rows is counted here.
  -- Into the result's own columns, which plpgsql_check can type.
  for mission_id, event_time, agent_id, action, details in
    select r.mission_id, r.event_time, r.agent_id, r.action, r.details
      from bridge.ask_nodes(
             array(select (x ->> 'Server')::name from jsonb_array_elements(nodes) x),
             array(select x ->> 'Remote SQL' from jsonb_array_elements(nodes) x)) answers,
           jsonb_array_elements(answers.answer) with ordinality as row_json(value, place),
           jsonb_to_record(row_json.value) as r(mission_id bigint, event_time timestamptz,
             agent_id bigint, action text, details jsonb)
     order by case when jsonb_array_length(nodes) = 1 then row_json.place end,
              r.event_time desc, r.mission_id, r.agent_id, r.action, r.details
     limit max_rows
    offset case when jsonb_array_length(nodes) = 1 then 0 else coalesce(before_position, 0) end
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

revoke all on function bridge.mission_activity_rows(bigint[], timestamptz, timestamptz, text[], int, timestamptz, int, boolean) from public, anon;
grant execute on function bridge.mission_activity_rows(bigint[], timestamptz, timestamptz, text[], int, timestamptz, int, boolean) to authenticated, service_role;

-- The outcome of each returned row's mission, by primary key: a join makes the planner read every
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


-- ==== supabase/schemas/bridge_health.sql ====

-- public.bridge_health: whether the nodes answer, and whether the search is pushed down, for
-- service_role (the bridge-health function and `npm run doctor` ask it).
--
-- Reachability is a read of bridge.events, which with several nodes reads every node. "Pushed
-- down" is read from the plan of the search callers run (bridge.nearest_events, unfiltered
-- top-10): it holds when every node's statement sorts by distance and limits on the node. With
-- several nodes the plan's top is the merge of their top-k (a Limit and a Sort over an Append),
-- which is expected; a node whose statement lacks ORDER BY or LIMIT sends every row.
-- remote_sql lists each node's statement, one per line, with the query vector elided.

create or replace function public.bridge_health()
returns table (
  reachable boolean,
  round_trip_ms float8,
  problem text,
  search_pushed_down boolean,
  remote_sql text
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  plan jsonb;
  started timestamptz := clock_timestamp();
  statements text[];
begin
  begin
    perform from bridge.events e limit 1;
    reachable := true;
    round_trip_ms := extract(epoch from clock_timestamp() - started) * 1000;
  exception when others then
    -- Only the primary message: the detail of a connection error names the host.
    reachable := false;
    problem := sqlerrm;
  end;

  -- EXPLAIN plans without contacting the nodes, so this is reported even while one is down.
  select n.plan into plan
    from bridge.nearest_events(array_fill(1, array[768])::real[]::extensions.vector, 10,
           null, null, null, null, null, null, null, null, explain_only => true) n;

  select array_agg(regexp_replace(s #>> '{}', '''\[[^'']*\]''', '''[...]''', 'g'))
    into statements
    from jsonb_path_query(plan, 'strict $.**."Remote SQL"') s;
  remote_sql := array_to_string(statements, E'\n');
  search_pushed_down := cardinality(statements) > 0
    and not exists (select from unnest(statements) s
                     where s !~ 'ORDER BY .*OPERATOR\(extensions\.<=>\)' or s !~ 'LIMIT');
  return next;
end;
$$;

revoke all on function public.bridge_health() from public, anon, authenticated;
grant execute on function public.bridge_health() to service_role;


-- ==== supabase/schemas/refresh.sql ====

-- bridge.refresh_foreign_tables(): after the Timescale nodes' export views change (a column
-- added, dropped or retyped; a view added or removed), re-imports the export schema and
-- replaces the bridge's foreign tables with the result, all in one transaction: if anything
-- fails (the node unreachable, an object depending on a table) nothing changes. The doctor's
-- `drift` line says when it is needed (npm run doctor, docs/operations.md).
--
-- Replaced, not altered: IMPORT FOREIGN SCHEMA is postgres_fdw's own reading of the node, so the
-- new tables match the views column for column and type for type. What the old tables carried
-- is kept: their local names, table-level grants (except to PUBLIC and the API roles, which get
-- none: foreign tables ignore RLS), NOT NULL on columns that still exist, and table options
-- such as fetch_size. Local statistics are not kept: run `analyze` afterwards.
--
-- The RPCs build their SQL at call time (EXECUTE), so they use the new tables at once; a column
-- one of them reads that the node dropped fails with `column ... does not exist`, naming it.
--
-- SECURITY DEFINER so that service_role may call it: the import then uses the owner's user
-- mapping, the one every definer step of the bridge uses (docs/design.md § user mapping of the current user).
-- lock_timeout: a refresh waits at most 5 s for queries on the old tables instead of queueing
-- every RPC call behind it; run it again if it times out.

-- Views on the foreign tables (bridge.events_in_scope among them) are kept: dropped first and
-- made again after the import, with their definition, options, owner and grants. A view is made
-- again from its own definition, so it keeps the columns it names: if the node no longer has one
-- (the scope's user_token, agent_key or location_key, say), the refresh fails naming it and
-- nothing changes. A view on such a view cannot be dropped first, so a refresh fails on it too;
-- drop it, refresh, and create it again.
--
-- With other nodes attached the bridge's tables are partitioned, and their partitions cannot be
-- replaced: bridge.refresh_foreign_tables lays the tables out for the default node alone,
-- refreshes them (bridge.refresh_default_node_tables) and lays them out again from the catalog,
-- so every node's partition has the refreshed columns (nodes must export the same views). All in
-- one transaction, with the catalog locked against readers, as attach_node does.

-- The refresh of the default node's foreign tables.
create or replace function bridge.refresh_default_node_tables()
returns table (foreign_table text, change text)
language plpgsql
volatile
security definer
set search_path = ''
set lock_timeout = '5s'
as $$
declare
  staging constant text := 'bridge_refresh_staging';
  olds jsonb;
  imported record;
  old record;
  grant_row record;
  local_name text;
  not_null_column text;
  before_columns jsonb;
  after_columns jsonb;
  views jsonb;
  saved record;
begin
  execute format('create schema %I', staging);
  -- import_collate false: columns take Supabase's default collation, as the hand-written
  -- foreign tables of link.sql do.
  execute format(
    'import foreign schema export from server events_ts into %I options (import_collate %L)',
    staging, 'false');

  -- The bridge's foreign tables on the export schema as they were, with the view each reads.
  select coalesce(jsonb_agg(jsonb_build_object(
           'oid', c.oid,
           'local_name', c.relname,
           'remote_name', coalesce((select substr(o, length('table_name=') + 1)
                                      from unnest(f.ftoptions) o where o like 'table\_name=%'),
                                   c.relname),
           'options', array(select o from unnest(f.ftoptions) o
                             where o not like 'schema\_name=%' and o not like 'table\_name=%'),
           'not_null', array(select a.attname from pg_catalog.pg_attribute a
                              where a.attrelid = c.oid and a.attnotnull and a.attnum > 0
                                and not a.attisdropped),
           'acl', c.relacl)), '[]')
    into olds
    from pg_catalog.pg_foreign_table f
    join pg_catalog.pg_foreign_server s on s.oid = f.ftserver
    join pg_catalog.pg_class c on c.oid = f.ftrelid
   where s.srvname = 'events_ts' and c.relnamespace = 'bridge'::regnamespace
     and coalesce((select substr(o, length('schema_name=') + 1) from unnest(f.ftoptions) o
                    where o like 'schema\_name=%'), 'bridge') = 'export';

  -- Views on those tables (bridge.events_in_scope among them) depend on them: dropped here, and
  -- made again from their own definitions once the new tables are in place.
  select coalesce(jsonb_agg(jsonb_build_object(
           'name', format('%I.%I', n.nspname, v.relname),
           'definition', pg_catalog.pg_get_viewdef(v.oid),
           'options', v.reloptions,
           'owner', v.relowner::regrole::text,
           'acl', v.relacl)), '[]')
    into views
    from pg_catalog.pg_class v
    join pg_catalog.pg_namespace n on n.oid = v.relnamespace
   where v.relkind = 'v'
     and v.oid in (select r.ev_class
                     from pg_catalog.pg_depend d
                     join pg_catalog.pg_rewrite r on r.oid = d.objid
                    where d.classid = 'pg_catalog.pg_rewrite'::regclass
                      and d.refclassid = 'pg_catalog.pg_class'::regclass
                      and d.refobjid in (select (o ->> 'oid')::oid from jsonb_array_elements(olds) o));
  for saved in select * from jsonb_to_recordset(views) as r(name text) loop
    execute format('drop view %s', saved.name);
  end loop;

  for old in
    select * from jsonb_to_recordset(olds)
           as r(oid oid, local_name text, remote_name text, options text[], not_null text[],
                acl aclitem[])
     where not exists (select from pg_catalog.pg_class c
                        where c.relnamespace = staging::regnamespace and c.relname = r.remote_name)
  loop
    execute format('drop foreign table bridge.%I', old.local_name);
    foreign_table := 'bridge.' || old.local_name;
    change := format('dropped: export.%s no longer exists on the node', old.remote_name);
    return next;
  end loop;

  for imported in
    select c.oid, c.relname::text as remote_name
      from pg_catalog.pg_class c
     where c.relnamespace = staging::regnamespace
     order by c.relname
  loop
    select * into old
      from jsonb_to_recordset(olds)
           as r(oid oid, local_name text, remote_name text, options text[], not_null text[],
                acl aclitem[])
     where r.remote_name = imported.remote_name;
    local_name := coalesce(old.local_name, imported.remote_name);
    after_columns := (
      select coalesce(jsonb_object_agg(a.attname,
                                       pg_catalog.format_type(a.atttypid, a.atttypmod)), '{}')
        from pg_catalog.pg_attribute a
       where a.attrelid = imported.oid and a.attnum > 0 and not a.attisdropped);

    if old.oid is null then
      change := 'added';
    else
      before_columns := (
        select coalesce(jsonb_object_agg(a.attname,
                                         pg_catalog.format_type(a.atttypid, a.atttypmod)), '{}')
          from pg_catalog.pg_attribute a
         where a.attrelid = old.oid and a.attnum > 0 and not a.attisdropped);
      select coalesce(string_agg(d.line, '; ' order by d.line), 'unchanged') into change
        from (select format('added %s %s', k, after_columns ->> k) as line
                from jsonb_object_keys(after_columns) k where not before_columns ? k
              union all
              select format('removed %s', k)
                from jsonb_object_keys(before_columns) k where not after_columns ? k
              union all
              select format('%s: %s -> %s', k, before_columns ->> k, after_columns ->> k)
                from jsonb_object_keys(after_columns) k
               where before_columns ? k and before_columns ->> k <> after_columns ->> k) d;
      execute format('drop foreign table bridge.%I', old.local_name);
    end if;

    execute format('alter foreign table %I.%I set schema bridge', staging, imported.remote_name);
    if local_name <> imported.remote_name then
      execute format('alter foreign table bridge.%I rename to %I',
        imported.remote_name, local_name);
    end if;
    execute format('revoke all on bridge.%I from public, anon, authenticated, service_role',
      local_name);

    if old.oid is not null then
      for grant_row in
        select a.privilege_type, a.is_grantable, r.rolname
          from aclexplode(old.acl) a
          join pg_catalog.pg_roles r on r.oid = a.grantee
         where r.rolname not in ('anon', 'authenticated', 'service_role')
           and a.grantee <> (select c.relowner from pg_catalog.pg_class c
                              where c.oid = imported.oid)
      loop
        execute format('grant %s on bridge.%I to %I%s', grant_row.privilege_type, local_name,
          grant_row.rolname,
          case when grant_row.is_grantable then ' with grant option' else '' end);
      end loop;
      for not_null_column in
        select n from unnest(old.not_null) n where after_columns ? n
      loop
        execute format('alter foreign table bridge.%I alter column %I set not null', local_name,
          not_null_column);
      end loop;
      if cardinality(old.options) > 0 then
        execute format('alter foreign table bridge.%I options (%s)', local_name,
          (select string_agg(format('add %I %L', split_part(o, '=', 1),
                                    substr(o, length(split_part(o, '=', 1)) + 2)), ', ')
             from unnest(old.options) o));
      end if;
    end if;

    foreign_table := 'bridge.' || local_name;
    return next;
  end loop;

  for saved in
    select * from jsonb_to_recordset(views)
           as r(name text, definition text, options text[], owner text, acl aclitem[])
  loop
    execute format('create view %s%s as %s', saved.name,
      case when saved.options is null then ''
           else format(' with (%s)', array_to_string(saved.options, ', ')) end,
      saved.definition);
    execute format('alter view %s owner to %I', saved.name, saved.owner);
    for grant_row in
      select a.privilege_type, a.is_grantable, coalesce(quote_ident(r.rolname), 'public') as grantee
        from aclexplode(saved.acl) a
        left join pg_catalog.pg_roles r on r.oid = a.grantee
       where r.rolname is distinct from saved.owner
    loop
      execute format('grant %s on %s to %s%s', grant_row.privilege_type, saved.name,
        grant_row.grantee, case when grant_row.is_grantable then ' with grant option' else '' end);
    end loop;
  end loop;

  execute format('drop schema %I', staging);
end;
$$;

revoke all on function bridge.refresh_default_node_tables() from public, anon, authenticated, service_role;

-- The refresh callers run.
create or replace function bridge.refresh_foreign_tables()
returns table (foreign_table text, change text)
language plpgsql
volatile
security definer
set search_path = ''
set lock_timeout = '5s'
as $$
begin
  lock table bridge.nodes in access exclusive mode;
  perform bridge.lay_out_nodes(with_nodes => false);
  return query select * from bridge.refresh_default_node_tables();
  perform bridge.lay_out_nodes();
end;
$$;

revoke all on function bridge.refresh_foreign_tables() from public, anon, authenticated;
grant execute on function bridge.refresh_foreign_tables() to service_role;


-- ==== supabase/schemas/topology.sql ====

-- bridge.attach_node, bridge.detach_node and bridge.move_boundary: the nodes behind the bridge
-- (nodes.sql) changed by SQL calls, as the owner or service_role, each in one transaction.
--
-- attach_node links a Timescale node as bridge.configure does the default one (its own server,
-- with the default server's options and async_capable, and a user mapping for the owner, the
-- role every definer step runs as: docs/design.md § user mapping of the current user), records its slice and lays
-- the tables out again (bridge.lay_out_nodes). Bad input is refused with 22023 before anything changes.
--
-- A call that adds a node creates its server and user mapping at run time, so neither is part of
-- the schema. Each call first locks the catalog against every reader: the steps read it (through
-- bridge.node_branches) to compose their statement, and hold that lock to the end of their
-- transaction, so a reader sees either the topology before a call or the one after it, never
-- the slices of one with the tables of the other.

create or replace function bridge.check_slice(
  slice_from timestamptz,
  slice_to timestamptz,
  slice_column text,
  slice_values text[]
) returns void
language plpgsql
stable
set search_path = ''
as $$
declare
  kind text := (select case when n.list_column is null then 'time' else n.list_column end
                  from bridge.nodes n where n.name <> 'default' limit 1);
begin
  if slice_column is null and slice_values is null then
    if slice_from is null and slice_to is null then
      raise exception using errcode = '22023',
        message = 'a node needs a slice: slice_from and/or slice_to (event_time), or slice_column and slice_values';
    end if;
    if slice_from >= slice_to then
      raise exception using errcode = '22023',
        message = format('slice_from (%s) must be before slice_to (%s)', slice_from, slice_to);
    end if;
    if kind is not null and kind <> 'time' then
      raise exception using errcode = '22023',
        message = format('the other nodes are sliced by %s: every node must slice the same way', kind);
    end if;
    if exists (select from bridge.nodes n
                where n.time_range && tstzrange(slice_from, slice_to, '[)')) then
      raise exception using errcode = '22023',
        message = format('event_time in [%s, %s) overlaps the slice of node %s',
          coalesce(slice_from::text, '-infinity'), coalesce(slice_to::text, 'infinity'),
          (select n.name from bridge.nodes n
            where n.time_range && tstzrange(slice_from, slice_to, '[)') limit 1));
    end if;
    return;
  end if;

  if slice_from is not null or slice_to is not null then
    raise exception using errcode = '22023',
      message = 'a slice is a time range or a list of values, not both';
  end if;
  if slice_column is null or coalesce(cardinality(slice_values), 0) = 0
     or array_position(slice_values, null) is not null then
    raise exception using errcode = '22023',
      message = 'a list slice needs slice_column and at least one value in slice_values, none null';
  end if;
  if not exists (select from pg_catalog.pg_attribute a
                  where a.attrelid = 'bridge.events'::regclass and a.attname = slice_column
                    and a.attnum > 0 and not a.attisdropped
                    and a.atttypid = 'text'::regtype) then
    raise exception using errcode = '22023',
      message = format('slice_column must be a text column of bridge.events, such as location_key, got %s',
        slice_column);
  end if;
  if slice_column = 'event_time' then
    raise exception using errcode = '22023', message = 'slice event_time by slice_from and slice_to';
  end if;
  if kind is not null and kind <> slice_column then
    raise exception using errcode = '22023',
      message = format('the other nodes are sliced by %s: every node must slice the same way', kind);
  end if;
  if exists (select from bridge.nodes n where n.list_values && slice_values) then
    raise exception using errcode = '22023',
      message = format('%s value(s) %s already belong to node %s', slice_column,
        (select array_to_string(array(select v from unnest(n.list_values) v
                                        where v = any(slice_values)), ', ')
           from bridge.nodes n where n.list_values && slice_values limit 1),
        (select n.name from bridge.nodes n where n.list_values && slice_values limit 1));
  end if;
end;
$$;

revoke all on function bridge.check_slice(timestamptz, timestamptz, text, text[]) from public, anon, authenticated, service_role;

create or replace function bridge.attach_node(
  name text,
  host text,
  port int,
  dbname text,
  username text,
  password text,
  sslmode text default 'require',
  slice_from timestamptz default null,
  slice_to timestamptz default null,
  slice_column text default null,
  slice_values text[] default null,
  sslrootcert text default null
) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  server_name text := 'events_ts_' || name;
begin
  lock table bridge.nodes in access exclusive mode;

  if name is null or name !~ '^[a-z][a-z0-9_]{0,39}$' then
    raise exception using errcode = '22023',
      message = format('name must be 1 to 40 lowercase letters, digits or _, starting with a letter, got %s',
        coalesce(name, 'null'));
  end if;
  if exists (select from bridge.nodes n where n.name = attach_node.name) then
    raise exception using errcode = '22023',
      message = format('a node named %s is already attached; detach it first', name);
  end if;
  if coalesce(host, '') = '' then
    raise exception using errcode = '22023', message = 'host must be a host name or address';
  end if;
  if port is null or port not between 1 and 65535 then
    raise exception using errcode = '22023',
      message = format('port must be between 1 and 65535, got %s', coalesce(port::text, 'null'));
  end if;
  if coalesce(dbname, '') = '' or coalesce(username, '') = '' or coalesce(password, '') = '' then
    raise exception using errcode = '22023',
      message = 'dbname, username and password must not be empty';
  end if;
  perform bridge.check_tls(sslmode, sslrootcert);
  perform bridge.check_slice(slice_from, slice_to, slice_column, slice_values);

  -- The default server's options (fetch_size, connect_timeout, extensions, ...), this node's
  -- address and TLS, and asynchronous scans.
  execute format('create server %I foreign data wrapper postgres_fdw options (%s)', server_name,
    (select string_agg(format('%I %L', o.key, o.value), ', ')
       from (select split_part(opt, '=', 1) as key,
                    substr(opt, length(split_part(opt, '=', 1)) + 2) as value
               from pg_catalog.pg_foreign_server s, unnest(s.srvoptions) opt
              where s.srvname = 'events_ts'
                and split_part(opt, '=', 1) not in ('host', 'port', 'dbname', 'sslmode',
                                                    'sslrootcert', 'async_capable')
             union all
             select * from (values ('host', host), ('port', port::text), ('dbname', dbname),
                                   ('sslmode', sslmode), ('async_capable', 'true'),
                                   ('sslrootcert', sslrootcert)) v (key, value)
              where v.value is not null) o));
  execute format('create user mapping for current_user server %I options (user %L, password %L)',
    server_name, username, password);
  perform bridge.verify_link(server_name);

  insert into bridge.nodes (name, server, time_range, list_column, list_values)
  values (name, server_name,
          case when slice_column is null then tstzrange(slice_from, slice_to, '[)') end,
          slice_column, slice_values);
  perform bridge.lay_out_nodes();
end;
$$;

revoke all on function bridge.attach_node(text, text, int, text, text, text, text, timestamptz, timestamptz, text, text[], text) from public, anon, authenticated;
grant execute on function bridge.attach_node(text, text, int, text, text, text, text, timestamptz, timestamptz, text, text[], text) to service_role;

-- Removes a node, its server and its user mapping; its slice falls back to the default node.
create or replace function bridge.detach_node(name text)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  server_name name;
begin
  lock table bridge.nodes in access exclusive mode;
  if name = 'default' then
    raise exception using errcode = '22023',
      message = 'the default node cannot be detached; bridge.configure points it elsewhere';
  end if;
  delete from bridge.nodes n where n.name = detach_node.name returning n.server into server_name;
  if server_name is null then
    raise exception using errcode = '22023',
      message = format('no node named %s is attached', coalesce(name, 'null'));
  end if;
  perform bridge.lay_out_nodes();
  execute format('drop server %I cascade', server_name);
end;
$$;

revoke all on function bridge.detach_node(text) from public, anon, authenticated;
grant execute on function bridge.detach_node(text) to service_role;

-- Moves a time boundary between tiers: every slice that starts or ends at `boundary` starts or
-- ends at `moved_to` instead, in one transaction (docs/operations.md, moving a day between
-- tiers). Copy the rows first; delete them from the node that gave them up after.
create or replace function bridge.move_boundary(boundary timestamptz, moved_to timestamptz)
returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  lock table bridge.nodes in access exclusive mode;
  if boundary is null or moved_to is null then
    raise exception using errcode = '22023', message = 'boundary and moved_to are required';
  end if;
  if not exists (select from bridge.nodes n
                  where lower(n.time_range) = boundary or upper(n.time_range) = boundary) then
    raise exception using errcode = '22023',
      message = format('no node''s slice starts or ends at %s', boundary);
  end if;
  if exists (select from bridge.nodes n
              where (lower(n.time_range) = boundary and upper(n.time_range) <= moved_to)
                 or (upper(n.time_range) = boundary and lower(n.time_range) >= moved_to)) then
    raise exception using errcode = '22023',
      message = format('moving %s to %s would leave a node an empty slice', boundary, moved_to);
  end if;
  update bridge.nodes n
     set time_range = tstzrange(
           case when lower(n.time_range) = boundary then moved_to else lower(n.time_range) end,
           case when upper(n.time_range) = boundary then moved_to else upper(n.time_range) end,
           '[)')
   where lower(n.time_range) = boundary or upper(n.time_range) = boundary;
  if exists (select from bridge.nodes a join bridge.nodes b on a.name < b.name
              where a.time_range && b.time_range) then
    raise exception using errcode = '22023',
      message = format('moving %s to %s would make two slices overlap', boundary, moved_to);
  end if;
  perform bridge.lay_out_nodes();
end;
$$;

revoke all on function bridge.move_boundary(timestamptz, timestamptz) from public, anon, authenticated;
grant execute on function bridge.move_boundary(timestamptz, timestamptz) to service_role;

