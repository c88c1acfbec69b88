/**
 * Nothing of the link is reachable by the API roles: foreign tables ignore RLS (DESIGN.md fact
 * 6), so a single grant on one of them, on the server or on a user mapping would publish the
 * node's data past every policy.
 */
import { type CheckResult, fail, pass, serverName, type Sql } from "./check.ts";

/**
 * Functions in `bridge` that authenticated may call by design: the activity RPC runs as the
 * caller and calls these two; the definer step re-checks mission ownership itself
 * (supabase/migrations/20261125000600_mission_activity.sql).
 */
const grantedByDesign = ["mission_activity_rows", "check_activity_arguments"];

/** Who can reach what, as one finding per grant that should not exist. */
async function findings(sql: Sql): Promise<string[]> {
  const rows = await sql`
    with api(role) as (values ('anon'), ('authenticated')),
    privilege(name) as (
      values ('select'), ('insert'), ('update'), ('delete'), ('truncate'), ('references'),
             ('trigger'))
    select format('%s can %s %s', api.role, upper(p.name), c.oid::regclass) as finding
      from api cross join privilege p
      cross join pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where (n.nspname = 'bridge' or c.relkind = 'f') and c.relkind in ('r', 'v', 'm', 'f', 'p')
       and pg_catalog.has_table_privilege(api.role, c.oid, p.name)
    union all
    select format('%s can SELECT some columns of %s', api.role, c.oid::regclass)
      from api cross join pg_catalog.pg_class c
      join pg_catalog.pg_namespace n on n.oid = c.relnamespace
     where (n.nspname = 'bridge' or c.relkind = 'f') and c.relkind in ('r', 'v', 'm', 'f', 'p')
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
    select format('%s can EXECUTE %s', api.role, p.oid::regprocedure)
      from api cross join pg_catalog.pg_proc p
      join pg_catalog.pg_namespace n on n.oid = p.pronamespace
     where n.nspname = 'bridge'
       and pg_catalog.has_function_privilege(api.role, p.oid, 'execute')
       and not (api.role = 'authenticated' and p.proname::text = any(${grantedByDesign}::text[]))
     order by 1`;
  return rows.map((row) => row.finding as string);
}

/**
 * anon and authenticated reach no foreign table or bridge relation, neither the server nor a
 * user mapping, and no bridge function but the two the activity RPC needs.
 */
export async function checkExposure(sql: Sql): Promise<CheckResult> {
  const name = "not exposed to API roles";
  const found = await findings(sql);
  if (found.length > 0) {
    return fail(
      name,
      found.join("; "),
      "revoke each, e.g. revoke all on bridge.events from anon, authenticated; " +
        `revoke usage on foreign server ${serverName} from anon, authenticated; ` +
        "callers reach the node only through the public.* RPC functions",
    );
  }
  return pass(
    name,
    "anon and authenticated reach no foreign table, bridge relation, server or user mapping; " +
      `in bridge they may call only ${grantedByDesign.join(" and ")} (authenticated, by design)`,
  );
}
