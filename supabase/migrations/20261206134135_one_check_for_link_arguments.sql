-- bridge.configure and bridge.attach_node check their link arguments (host, port, dbname, username,
-- password, sslmode, sslrootcert) with one function, bridge.check_link_arguments, which replaces
-- bridge.check_tls and the copy of the address and credential checks each of them had. The
-- messages are unchanged.

SET local check_function_bodies = off;

DROP FUNCTION "bridge"."check_tls"(text, text);

CREATE OR REPLACE FUNCTION bridge.attach_node (
  name         text,
  host         text,
  port         integer,
  dbname       text,
  username     text,
  password     text,
  sslmode      text                     DEFAULT 'require'::text,
  slice_from   timestamp with time zone DEFAULT NULL::timestamp WITH time zone,
  slice_to     timestamp with time zone DEFAULT NULL::timestamp WITH time zone,
  slice_column text                     DEFAULT NULL::text,
  slice_values text[]                   DEFAULT NULL::text[],
  sslrootcert  text                     DEFAULT NULL::text
)
  RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
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
  perform bridge.check_link_arguments(host, port, dbname, username, password, sslmode, sslrootcert);
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
$function$;

CREATE OR REPLACE FUNCTION bridge.check_link_arguments (
  host        text,
  port        integer,
  dbname      text,
  username    text,
  password    text,
  sslmode     text,
  sslrootcert text
)
  RETURNS void
  LANGUAGE plpgsql
  STABLE
  SET search_path TO ''
  AS $function$
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
$function$;

CREATE OR REPLACE FUNCTION bridge.configure (
  host        text,
  port        integer,
  dbname      text,
  username    text,
  password    text,
  sslmode     text    DEFAULT 'require'::text,
  sslrootcert text    DEFAULT NULL::text
)
  RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  AS $function$
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
$function$;

REVOKE ALL ON FUNCTION "bridge"."check_link_arguments"(text, integer, text, text, text, text, text) FROM PUBLIC, anon, authenticated, service_role;
