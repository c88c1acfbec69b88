-- The private schema `bridge` and the link to the Timescale node.
--
-- `bridge` is not in the API's exposed schemas and no API role may read from it: foreign tables
-- ignore RLS (DESIGN.md fact 6), so the only way in is through the RPC functions in public.
--
-- The server carries no host or secret: `bridge.configure(...)` sets them at deploy time from
-- configuration, so nothing secret is ever in a migration. Until it is called, queries fail with
-- a clear connection error naming the placeholder host.

create schema if not exists bridge;
revoke all on schema bridge from public;
grant usage on schema bridge to authenticated, service_role;

-- extensions 'vector': without it pgvector's operators are not shipped and a top-k search pulls
--   every remote row to sort it locally (DESIGN.md fact 1).
-- fetch_size 1000: one round trip for the largest page mission_activity returns.
-- connect_timeout 5: a down node fails the caller within seconds instead of hanging.
-- updatable false: the link only reads, whatever grants exist on either side.
create server if not exists events_ts
  foreign data wrapper postgres_fdw
  options (
    host 'bridge-not-configured.invalid',
    port '5432',
    dbname 'postgres',
    sslmode 'require',
    extensions 'vector',
    fetch_size '1000',
    keep_connections 'on',
    connect_timeout '5',
    updatable 'false',
    application_name 'supabase-fdw-bridge'
  );

-- Sets the link's address and credentials. SECURITY DEFINER so that service_role can call it;
-- the user mapping it writes is for the function's owner, the role every definer step of the
-- bridge runs as (postgres_fdw uses the current user's mapping, DESIGN.md fact 7).
create or replace function bridge.configure(
  host text,
  port int,
  dbname text,
  username text,
  password text,
  sslmode text default 'require'
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
  if sslmode is null or sslmode not in ('require', 'verify-ca', 'verify-full') then
    raise exception using errcode = '22023',
      message = format('sslmode must be require, verify-ca or verify-full (the link is always encrypted), got %s',
        coalesce(sslmode, 'null'));
  end if;

  select coalesce(s.srvoptions, '{}') into existing
    from pg_catalog.pg_foreign_server s where s.srvname = 'events_ts';
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
end;
$$;

revoke all on function bridge.configure(text, int, text, text, text, text) from public, anon, authenticated;
grant execute on function bridge.configure(text, int, text, text, text, text) to service_role;
