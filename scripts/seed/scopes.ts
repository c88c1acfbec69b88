/**
 * The demo users' event scopes, so the quick start shows each signed-in demo user events:
 * seed user i sees the sites i, i + 20, i + 40, ... (every site granted to exactly one user,
 * so any two users' scopes are disjoint), as a team sees its sites (README, Security).
 */
import { psql } from "../stack/postgres.ts";
import { LOCATION_COUNT, locationKey, SEED_USER_COUNT, seedUserId } from "./generate.ts";

/** A row of public.event_scopes. */
export interface ScopeGrant {
  userId: string;
  kind: "user_token" | "agent_key" | "location_key";
  key: string;
}

/** The location keys seed user i (1..20) may see. */
export function demoSites(i: number): string[] {
  const sites: string[] = [];
  for (let site = i; site <= LOCATION_COUNT; site += SEED_USER_COUNT) {
    sites.push(locationKey(site));
  }
  return sites;
}

/** Every demo grant: each seed user's sites. */
function demoScopes(): ScopeGrant[] {
  return Array.from({ length: SEED_USER_COUNT }, (_, index) => index + 1).flatMap((i) =>
    demoSites(i).map((key) => ({ userId: seedUserId(i), kind: "location_key" as const, key }))
  );
}

/**
 * Grants the demo scopes on the Supabase database at `url`, unless public.event_scopes holds
 * grants already: an operator's grants are never added to or changed.
 */
export async function grantDemoScopes(url: string): Promise<void> {
  const rows = demoScopes().map((g) => `('${g.userId}'::uuid, '${g.kind}', '${g.key}')`);
  await psql(
    url,
    `insert into public.event_scopes (user_id, kind, key)
     select * from (values ${rows.join(", ")}) as grants
      where not exists (select from public.event_scopes)`,
  );
}
