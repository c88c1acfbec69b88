/**
 * Supabase's side of access: nothing of the link is reachable by the API roles, and which events
 * a signed-in user sees. The exposure check reads the catalog for the dangerous cases only; the
 * privileges each role is meant to hold are declared once, in supabase/tests/privileges.test.sql,
 * so that a reviewer audits them in one place and the doctor never falls behind a new RPC.
 */
import {
  applyMigrations,
  type CheckResult,
  fail,
  type Finding,
  pass,
  type Sql,
  unexpected,
} from "./check.ts";

/** The lines of Supabase's own grants, in report order. */
export async function checkAccess(sql: Sql): Promise<CheckResult[]> {
  return [
    { name: "not exposed to API roles", ...await checkExposure(sql).catch(unexpected) },
    { name: "event access", ...await checkEventAccess(sql).catch(unexpected) },
  ];
}

/**
 * The grants that would expose the node's data or the link, whatever the bridge's version and
 * whatever an operator added: one finding each. Foreign tables ignore RLS (docs/design.md
 * § foreign tables ignore RLS), so one such grant would publish the node's rows past every policy.
 *
 * This check keeps no list of what each role may do: that list is written once, in
 * supabase/tests/privileges.test.sql, which `npm test` compares whole with the catalog. Here the
 * dangerous cases are found from the catalog alone, so the check holds on any deployment:
 * - anon (and so PUBLIC) reaches nothing in schema bridge, and runs no definer function in bridge
 *   or public;
 * - anon and authenticated read no foreign table and no table partitioned over foreign ones,
 *   use no foreign server, have no user mapping, and write nothing in bridge;
 * - every definer function anon or authenticated may run has a fixed search_path, so nobody can
 *   put objects of their own in its way.
 */
async function checkExposure(sql: Sql): Promise<Finding> {
  const rows = await sql`
    with api(role) as (values ('anon'), ('authenticated')),
    privilege(name, writes) as (
      values ('select', false), ('insert', true), ('update', true), ('delete', true),
             ('truncate', true), ('references', true), ('trigger', true)),
    relation as (
      select c.oid, c.relkind in ('f', 'p') as holds_node_rows
        from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where c.relkind in ('r', 'v', 'm', 'f', 'p')
         and (n.nspname = 'bridge' or c.relkind = 'f')),
    definer as (
      select f.oid, n.nspname,
             exists (select from unnest(f.proconfig) s where s like 'search_path=%') as fixed_path
        from pg_catalog.pg_proc f
        join pg_catalog.pg_namespace n on n.oid = f.pronamespace
       where f.prosecdef and n.nspname in ('bridge', 'public'))
    select format('%s can %s %s', api.role, upper(p.name), c.oid::regclass) as finding
      from api cross join privilege p cross join relation c
     where pg_catalog.has_table_privilege(api.role, c.oid, p.name)
       and (api.role = 'anon' or c.holds_node_rows or p.writes)
    union all
    select format('%s can SELECT some columns of %s', api.role, c.oid::regclass)
      from api cross join relation c
     where c.holds_node_rows
       and not pg_catalog.has_table_privilege(api.role, c.oid, 'select')
       and pg_catalog.has_any_column_privilege(api.role, c.oid, 'select')
    union all
    select format('%s has USAGE on server %s', api.role, s.srvname)
      from api cross join pg_catalog.pg_foreign_server s
     where pg_catalog.has_server_privilege(api.role, s.oid, 'usage')
    union all
    select format('a user mapping on %s exists for %s', m.srvname, m.usename)
      from pg_catalog.pg_user_mappings m
     where m.usename in ('anon', 'authenticated', 'public')
    union all
    select 'anon has USAGE on schema bridge'
     where pg_catalog.has_schema_privilege('anon', 'bridge', 'usage')
    union all
    select format('anon can EXECUTE %s', f.oid::regprocedure)
      from pg_catalog.pg_proc f
     where f.pronamespace = 'bridge'::regnamespace
       and pg_catalog.has_function_privilege('anon', f.oid, 'execute')
    union all
    select format('anon can EXECUTE %s, which runs as its owner', d.oid::regprocedure)
      from definer d
     where d.nspname <> 'bridge' and pg_catalog.has_function_privilege('anon', d.oid, 'execute')
    union all
    select format('%s can EXECUTE %s, which runs as its owner with no fixed search_path',
                  api.role, d.oid::regprocedure)
      from api cross join definer d
     where not d.fixed_path and pg_catalog.has_function_privilege(api.role, d.oid, 'execute')
     order by 1`;
  if (rows.length > 0) {
    return fail(
      rows.map((row) => row.finding).join("; "),
      "revoke each, e.g. revoke all on bridge.events from anon, authenticated; " +
        "revoke usage on foreign server <server> from anon, authenticated; " +
        "alter function <definer function> set search_path = ''; " +
        "callers reach the node only through the public.* RPC functions",
    );
  }
  return pass(
    "anon reaches nothing in bridge and runs no definer function; anon and authenticated read " +
      "no foreign table, use no server, have no user mapping and write nothing in bridge; " +
      "every definer function they may run has a fixed search_path",
  );
}

/**
 * The event access mode in force (bridge.event_access) and the grants in public.event_scopes.
 * Either mode is the operator's choice, so both pass; the line says which one is in force.
 */
async function checkEventAccess(sql: Sql): Promise<Finding> {
  const [row] = await sql`
    select (select a.mode from bridge.event_access a) as mode,
           (select count(*)::int from public.event_scopes) as grants
     where pg_catalog.to_regclass('bridge.event_access') is not null
       and pg_catalog.to_regclass('public.event_scopes') is not null`;
  if (!row?.mode) {
    return fail(
      "bridge.event_access or public.event_scopes is missing, so no events RPC can answer",
      applyMigrations,
    );
  }
  if (row.mode === "open") {
    return pass(
      "open: every signed-in user sees every event (bridge.event_access); to scope them by " +
        "public.event_scopes: update bridge.event_access set mode = 'scoped'",
    );
  }
  return pass(
    `scoped: signed-in users see only the events public.event_scopes grants them ` +
      (row.grants === 0 ? "(no grants yet, so they see none)" : `(${row.grants} grants)`) +
      "; service_role sees all",
  );
}
