-- bridge.refresh_default_node_tables keeps the views on the foreign tables through
-- bridge.drop_views_on and bridge.create_views, the helpers bridge.lay_out_nodes uses, instead of
-- its own copy of them. Behaviour is unchanged.

SET local check_function_bodies = off;

CREATE OR REPLACE FUNCTION bridge.refresh_default_node_tables()
  RETURNS TABLE (
    foreign_table text,
    change        text
  )
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path TO ''
  SET lock_timeout TO '5s'
  AS $function$
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
$function$;
