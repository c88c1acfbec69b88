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


