/**
 * Event scopes for tests: grants in public.event_scopes for fresh test users (never a seed
 * user's id), committed so the served functions see them too, and removed when the test ends.
 * What a scoped caller must see is found by tests/support/oracle.ts from the grants table.
 */
import type { Sql } from "./fixture.ts";

/** Keys a user is granted, by the column of the events they must equal. */
export interface Scope {
  user_token?: string[];
  agent_key?: string[];
  location_key?: string[];
}

/**
 * Runs `fn` with one fresh user per scope, each granted its scope (an empty scope: no grant),
 * and removes every grant of those users afterwards, whether `fn` passed or failed.
 */
export async function withScopedUsers<T>(
  supabase: Sql,
  scopes: Scope[],
  fn: (userIds: string[]) => Promise<T>,
): Promise<T> {
  const userIds = scopes.map(() => crypto.randomUUID());
  try {
    for (const [i, scope] of scopes.entries()) {
      for (const [kind, keys] of Object.entries(scope)) {
        await supabase`
          insert into public.event_scopes (user_id, kind, key)
          select ${userIds[i]}::uuid, ${kind}, unnest(${keys}::text[])`;
      }
    }
    return await fn(userIds);
  } finally {
    await supabase`delete from public.event_scopes where user_id = any(${userIds}::uuid[])`;
  }
}
