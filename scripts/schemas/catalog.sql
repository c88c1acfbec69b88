-- Every object the bridge's schemas define, one row each: its kind and name, and a text that
-- changes whenever its definition, grants or comment do. Two databases define the same bridge
-- when this returns the same rows on both.
with fn as (
  select p.oid, format('%s.%s(%s)', n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) as name
    from pg_proc p join pg_namespace n on n.oid = p.pronamespace
   where n.nspname in ('public', 'bridge')
), rel as (
  select c.oid, c.relkind, format('%s.%s', n.nspname, c.relname) as name
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where n.nspname in ('public', 'bridge') and c.relkind in ('r', 'p', 'v', 'f', 'S', 'i')
)
select 'function' as kind, fn.name, pg_get_functiondef(fn.oid) as definition from fn
union all
select 'function grants', fn.name, coalesce(p.proacl::text, 'default') from fn join pg_proc p on p.oid = fn.oid
union all
select 'view', rel.name, pg_get_viewdef(rel.oid) || coalesce(' with ' || c.reloptions::text, '')
  from rel join pg_class c on c.oid = rel.oid where rel.relkind = 'v'
union all
select 'index', rel.name, pg_get_indexdef(rel.oid) from rel where rel.relkind = 'i'
union all
select 'relation', rel.name, rel.relkind::text || ': ' || coalesce((
         select string_agg(format('%s %s%s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                  case when a.attnotnull then ' not null' else '' end,
                  coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), ''),
                  coalesce(' ' || a.attacl::text, '') ||
                  coalesce(' options ' || a.attfdwoptions::text, '')), ', ' order by a.attnum)
           from pg_attribute a left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
          where a.attrelid = rel.oid and a.attnum > 0 and not a.attisdropped), '')
       || coalesce(' rls ' || nullif(c.relrowsecurity, false)::text, '')
       || coalesce(' options ' || ft.ftoptions::text, '')
       || coalesce(' server ' || s.srvname, '')
  from rel join pg_class c on c.oid = rel.oid
  left join pg_foreign_table ft on ft.ftrelid = rel.oid
  left join pg_foreign_server s on s.oid = ft.ftserver
 where rel.relkind <> 'i'
union all
select 'relation grants', rel.name, coalesce(c.relacl::text, 'default')
  from rel join pg_class c on c.oid = rel.oid where rel.relkind <> 'i'
union all
select 'constraint', format('%s %s', co.conrelid::regclass, co.conname), pg_get_constraintdef(co.oid)
  from pg_constraint co join rel on rel.oid = co.conrelid
union all
select 'policy', format('%s.%s "%s"', p.schemaname, p.tablename, p.policyname),
       format('%s %s to %s using %s check %s', p.permissive, p.cmd, p.roles, p.qual, p.with_check)
  from pg_policies p where p.schemaname in ('public', 'bridge')
union all
select 'comment', format('%s %s', d.classoid::regclass, pg_describe_object(d.classoid, d.objoid, d.objsubid)), d.description
  from pg_description d
 where (d.classoid = 'pg_proc'::regclass and d.objoid in (select oid from fn))
    or (d.classoid = 'pg_class'::regclass and d.objoid in (select oid from rel))
union all
select 'schema', n.nspname, coalesce(n.nspacl::text, 'default') from pg_namespace n where n.nspname = 'bridge'
union all
select 'extension', e.extname, e.extnamespace::regnamespace::text
  from pg_extension e where e.extname in ('postgres_fdw', 'vector')
union all
select 'server', s.srvname, s.srvoptions::text || coalesce(' ' || s.srvacl::text, '')
  from pg_foreign_server s
union all
select 'rows', 'bridge.nodes', (select string_agg(format('%s', n), ', ' order by n.name) from bridge.nodes n)
union all
select 'rows', 'bridge.event_access', (select string_agg(format('%s', a), ', ') from bridge.event_access a)
order by 1, 2
