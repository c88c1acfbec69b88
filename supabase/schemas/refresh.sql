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
  views jsonb := '[]'::jsonb;
  old_oid oid;
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
  for old_oid in select (o ->> 'oid')::oid from jsonb_array_elements(olds) o loop
    views := views || bridge.drop_views_on(old_oid::regclass);
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

  perform bridge.create_views(views);
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

