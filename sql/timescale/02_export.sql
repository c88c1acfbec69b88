-- The export schema: the FDW contract. Only pseudonymous columns, one view per table; the
-- bridge's foreign tables mirror these views column for column and nothing else is readable
-- by the link role. Views are simple (auto-updatable), so filters, ORDER BY and LIMIT sent by
-- postgres_fdw reach the table and its indexes unchanged.
--
-- events.data_payload_raw is not exported, and must never be: the raw payload is where personal
-- data ends up, and the founding document keeps PII off the FDW (npm run doctor fails naming it
-- if it appears here).

create schema if not exists export;

-- Defines export.<name> as `query`. `create or replace view` may only add columns at the end; a
-- view left by an earlier version of these scripts with columns in another order or of another
-- type (activity_log.agent_id was text) is dropped and created again instead, in this one
-- transaction, with its grants. A view another object depends on is not dropped: the error
-- names the dependant and nothing changes.
create or replace function pg_temp.define_export_view(name text, query text) returns void
language plpgsql
set search_path = ''
as $$
declare
  view_acl aclitem[];
  grant_row record;
begin
  execute format('create or replace view export.%I as %s', name, query);
exception when invalid_table_definition then
  select c.relacl into view_acl from pg_catalog.pg_class c
   where c.oid = format('export.%I', name)::regclass;
  execute format('drop view export.%I', name);
  execute format('create view export.%I as %s', name, query);
  for grant_row in
    select a.privilege_type, a.is_grantable, a.grantee
      from pg_catalog.aclexplode(view_acl) a
     where a.grantee <> (select c.relowner from pg_catalog.pg_class c
                          where c.oid = format('export.%I', name)::regclass)
  loop
    execute format('grant %s on export.%I to %s%s', grant_row.privilege_type, name,
      case when grant_row.grantee = 0 then 'public' else grant_row.grantee::regrole::text end,
      case when grant_row.is_grantable then ' with grant option' else '' end);
  end loop;
end;
$$;

select pg_temp.define_export_view('events', $view$
  select event_time, user_token, agent_key, device_key, location_key, event_type,
         data_payload_proc, event_embedding
    from public.events
$view$);

select pg_temp.define_export_view('activity_log', $view$
  select event_time, agent_id, mission_id, action, details
    from public.activity_log
$view$);
