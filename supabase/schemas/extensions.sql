-- The extensions the bridge needs, in schema `extensions` as Supabase installs them: never in
-- public (the advisors flag extension_in_public), and the vector type's schema must match the
-- Timescale node's, since postgres_fdw ships operators schema-qualified
-- (docs/design.md § operator schemas match on both sides).

create extension if not exists postgres_fdw with schema extensions;
create extension if not exists vector with schema extensions;

-- dblink: the steps ask the nodes through it, one round trip per node and call
-- (supabase/schemas/ask_nodes.sql).
create extension if not exists dblink with schema extensions;

-- Supabase grants every function in schema extensions to the API roles by default: dblink opens
-- connections anywhere, so nobody but the owner may call it.
do $$
declare
  f regprocedure;
begin
  for f in
    select d.objid::regprocedure from pg_catalog.pg_depend d
     where d.classid = 'pg_catalog.pg_proc'::regclass
       and d.refclassid = 'pg_catalog.pg_extension'::regclass
       and d.refobjid = (select e.oid from pg_catalog.pg_extension e where e.extname = 'dblink')
       and d.deptype = 'e'
  loop
    execute format('revoke all on function %s from public, anon, authenticated, service_role', f);
  end loop;
end;
$$;
