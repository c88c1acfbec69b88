-- The bridge's tables laid out from the node catalog (20261127000100_node_catalog.sql) with
-- PostgreSQL's own declarative partitioning.
--
-- With the default node alone, bridge.events and bridge.activity_log are its foreign tables, as
-- they always were. Once another node is attached, each becomes a partitioned table, by range of
-- event_time or by list of the sliced column, whose partitions are foreign tables, one per node:
-- bridge.<table>_at_<node>, with the node's slice as its bounds, and the default node's table as
-- the default partition. Views on bridge.events and bridge.activity_log (bridge.events_in_scope
-- among them) are kept: dropped and made again with their definition, owner and grants, as
-- bridge.refresh_foreign_tables does. Each node's events also get a scope view,
-- bridge.events_in_scope_at_<node>, which filters them as bridge.events_in_scope does: the steps
-- send one statement per node through it (20261127000500), with ORDER BY, LIMIT and GROUP BY in
-- each node's Remote SQL, which a scan of the partitioned table cannot have (PostgreSQL 15
-- pushes no LIMIT through an Append).
--
-- A list slice on a column activity_log lacks (location_key, say: activity rows name a mission,
-- not a site) does not split activity_log: such nodes hold no activity the bridge reads, and
-- bridge.activity_log stays the default node's foreign table. Write activity to the default node.
-- A time slice splits both tables, since both have event_time.
--
-- A partition's bounds are not checked on a foreign table: rows on a node outside its slice (a
-- day copied to a cold node before the boundary moves) are still read by a plain
-- `select from bridge.events`, which is the sum of its partitions. The steps therefore send each
-- node its own slice as a predicate (bridge.node_branches, 20261127000400).
--
-- The predicate that scopes events to the caller is written once here, in
-- bridge.events_in_scope_query, and bridge.events_in_scope is made again from it.

-- The select that scopes a relation's events to the caller, on the relation aliased `e`: used by
-- bridge.events_in_scope and by each node's scope view. See
-- 20261126000520_events_in_scope.sql for why it has this shape.
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

-- bridge.events_in_scope as before, now made from the one definition of the scope above.
do $$
begin
  execute 'create or replace view bridge.events_in_scope as '
    || bridge.events_in_scope_query('bridge.events');
end;
$$;
