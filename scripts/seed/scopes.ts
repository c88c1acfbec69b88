/**
 * The demo users' event scopes, so the quick start shows each signed-in demo user events:
 * seed user i sees the sites i, i + 20, i + 40, ... (every site granted to exactly one user,
 * so any two users' scopes are disjoint), as a team sees its sites (README, Security).
 */
import { psql } from "../stack/postgres.ts";
import { LOCATION_COUNT, locationKey, SEED_USER_COUNT, seedUserId } from "./generate.ts";

/** The location keys seed user i (1..20) may see. */
export function demoSites(i: number): string[] {
  const sites: string[] = [];
  for (let site = i; site <= LOCATION_COUNT; site += SEED_USER_COUNT) {
    sites.push(locationKey(site));
  }
  return sites;
}

/**
 * Grants each seed user their demo sites on the Supabase database at `url`, unless
 * public.event_scopes holds grants already: an operator's grants are never added to or changed.
 */
export async function grantDemoScopes(url: string): Promise<void> {
  const users = Array.from({ length: SEED_USER_COUNT }, (_, index) => index + 1);
  const rows = users.flatMap((i) =>
    demoSites(i).map((site) => `('${seedUserId(i)}'::uuid, 'location_key', '${site}')`)
  );
  await psql(
    url,
    `insert into public.event_scopes (user_id, kind, key)
     select * from (values ${rows.join(", ")}) as grants
      where not exists (select from public.event_scopes)`,
  );
}
