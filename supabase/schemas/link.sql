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
-- Refuses the arguments of a link (bridge.configure, bridge.attach_node) that it cannot have,
-- TLS settings among them, before anything changes.
create or replace function bridge.check_link_arguments(
  host text,
  port int,
  dbname text,
  username text,
  password text,
  sslmode text,
  sslrootcert text
) returns void
language plpgsql
stable
set search_path = ''
as $$
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

revoke all on function bridge.check_link_arguments(text, int, text, text, text, text, text) from public, anon, authenticated, service_role;

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
  perform bridge.check_link_arguments(host, port, dbname, username, password, sslmode, sslrootcert);

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

