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

