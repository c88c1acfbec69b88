/**
 * Which events a signed-in user sees: the mode in bridge.event_access and the number of grants in
 * public.event_scopes (supabase/migrations/20261126000500..20261126000520). Either mode is a
 * choice the operator makes, so both pass; the line says which one is in force.
 */
import { fail, type Finding, pass, type Sql } from "./check.ts";

/** The event access mode in force, and how many grants public.event_scopes holds. */
export async function checkEventAccess(sql: Sql): Promise<Finding> {
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
