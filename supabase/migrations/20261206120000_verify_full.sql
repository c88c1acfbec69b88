-- Links that verify the node's certificate: bridge.configure and bridge.attach_node take
-- sslrootcert 'system' with sslmode 'verify-full', and try such a link once before keeping it.
--
-- A hosted project cannot be given a CA file of its own, and sslmode 'require' encrypts without
-- checking who answers, so it does not stop a man in the middle. From PostgreSQL 16, libpq's
-- sslrootcert=system trusts the CAs of the Supabase side's system store: a node with a
-- certificate from a public CA for its host name is verified as a browser verifies a web site.
-- On PostgreSQL 15 libpq would read "system" as a file name: refused, with what to do instead.
--
-- A link whose sslmode verifies the certificate (verify-ca, verify-full) is tried before the call
-- returns: a certificate for another name, or from a CA the Supabase side does not trust, fails
-- the call with libpq's reason, and the transaction leaves the server options and the user
-- mapping as they were.
--
-- sslrootcert is a new last parameter of both functions: their signatures without it are
-- dropped, so a call by position or by name resolves to one function.

drop function if exists bridge.configure(text, int, text, text, text, text);
drop function if exists bridge.attach_node(text, text, int, text, text, text, text, timestamptz,
  timestamptz, text, text[]);

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
-- a foreign table of no columns on a catalog every role can read, made and dropped in the
-- caller's transaction. Called on a server with no connection open in this session (a new one,
-- or after postgres_fdw_disconnect_all), so the probe makes a connection with the settings.
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
    execute format('create foreign table bridge.link_probe () server %I
                      options (schema_name %L, table_name %L)', server_name, 'pg_catalog', 'pg_am');
    execute 'select from bridge.link_probe limit 1';
    drop foreign table bridge.link_probe;
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
-- bridge runs as (postgres_fdw uses the current user's mapping).
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
