/**
 * Supabase's side of access: nothing of the link is reachable by the API roles, and which events
 * a signed-in user sees.
 */
import { type CheckResult, fail, type Finding, pass, type Sql, unexpected } from "./check.ts";

/** The lines of Supabase's own grants, in report order. */
export async function checkAccess(sql: Sql): Promise<CheckResult[]> {
  return [
    { name: "not exposed to API roles", ...await checkExposure(sql).catch(unexpected) },
    { name: "event access", ...await checkEventAccess(sql).catch(unexpected) },
  ];
}

/**
 * What authenticated may reach in `bridge` by design, as each returns only what the caller may
 * see. Functions: the activity steps (the definer step re-checks missions by readable_mission_ids,
 * the rule the missions policy calls, supabase/schemas/access.sql); the events steps and scope
 * functions, which run as the caller over bridge.events_in_scope (access.sql); the explain guards
 * and the bypass rule, which explain only to a caller that bypasses RLS (access.sql);
 * node_branches, which returns relation names and slices, never rows (nodes.sql). Relations: the
 * events in scope, filtered by the view
 * itself (and by each node's bridge.events_in_scope_at_<node>, of the same definition), and the
 * event access mode, which is not a secret.
 */
const grantedByDesign = ("mission_activity_rows check_activity_arguments readable_mission_ids " +
  "nearest_events event_counts histogram_buckets check_may_explain caller_bypasses_rls " +
  "caller_sees_all_events caller_event_keys node_branches").split(" ");
const readableByDesign = ["bridge.events_in_scope", "bridge.event_access"];
const readableByDesignPattern = "bridge.events\\_in\\_scope\\_at\\_%";

/**
 * anon and authenticated reach no foreign table, server, user mapping, or bridge relation or
 * function but those above: one finding per grant that should not exist. Foreign tables ignore
 * RLS (DESIGN.md fact 6), so one such grant would publish the node's data past every policy.
 */
async function checkExposure(sql: Sql): Promise<Finding> {
  const rows = await sql`
    with api(role) as (values ('anon'), ('authenticated')),
    privilege(name) as (
      values ('select'), ('insert'), ('update'), ('delete'), ('truncate'), ('references'),
             ('trigger')),
    relation as (
      select c.oid from pg_catalog.pg_class c
        join pg_catalog.pg_namespace n on n.oid = c.relnamespace
       where (n.nspname = 'bridge' or c.relkind = 'f') and c.relkind in ('r', 'v', 'm', 'f', 'p'))
    select format('%s can %s %s', api.role, upper(p.name), c.oid::regclass) as finding
      from api cross join privilege p cross join relation c
     where pg_catalog.has_table_privilege(api.role, c.oid, p.name)
       and not (api.role = 'authenticated' and p.name = 'select'
                and (c.oid::regclass::text = any(${readableByDesign}::text[])
                     or c.oid::regclass::text like ${readableByDesignPattern}))
    union all
    select format('%s can SELECT some columns of %s', api.role, c.oid::regclass)
      from api cross join relation c
     where not pg_catalog.has_table_privilege(api.role, c.oid, 'select')
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
    select format('%s can EXECUTE %s', api.role, p.oid::regprocedure)
      from api cross join pg_catalog.pg_proc p
     where p.pronamespace = 'bridge'::regnamespace
       and pg_catalog.has_function_privilege(api.role, p.oid, 'execute')
       and not (api.role = 'authenticated' and p.proname::text = any(${grantedByDesign}::text[]))
     order by 1`;
  if (rows.length > 0) {
    return fail(
      rows.map((row) => row.finding).join("; "),
      "revoke each, e.g. revoke all on bridge.events from anon, authenticated; " +
        "revoke usage on foreign server <server> from anon, authenticated; " +
        "callers reach the node only through the public.* RPC functions",
    );
  }
  return pass(
    "anon and authenticated reach no foreign table, bridge relation, server or user mapping; " +
      `in bridge, by design, authenticated may read only ${readableByDesign.join(", ")} ` +
      "(and each node's bridge.events_in_scope_at_<node>) " +
      `and call only ${grantedByDesign.join(", ")}`,
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
      "push the migrations: npx supabase db push",
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
