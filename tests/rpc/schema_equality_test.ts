/**
 * supabase/migrations/ and supabase/schemas/ define the same bridge: a database built from the
 * migrations with `supabase db push` and one built from the schema files compare equal, both by
 * `supabase db diff` and object by object in the catalog (functions, views, policies, grants,
 * comments). A schema edit with no migration makes them differ, and the difference names it.
 */
import assert from "node:assert/strict";
import {
  applySchemas,
  catalogDifferences,
  catalogOf,
  dropDatabase,
  freshDatabase,
  pushMigrations,
  schemaDiff,
} from "../../scripts/schemas/databases.ts";
import { psql } from "../../scripts/stack/postgres.ts";
import { env } from "../support/fixture.ts";

const admin = env("SUPABASE_DB_URL");
const password = env("AUTHENTICATOR_PASSWORD");

Deno.test("a database from the migrations equals one from the schema files", async (t) => {
  const names = ["equality_from_migrations", "equality_from_schemas", "equality_edited"];
  try {
    const fromMigrations = await freshDatabase(admin, names[0], password);
    await pushMigrations(fromMigrations);
    const fromSchemas = await freshDatabase(admin, names[1], password);
    await applySchemas(fromSchemas);

    await t.step("supabase db diff reports nothing", async () => {
      assert.equal(await schemaDiff(fromMigrations, fromSchemas), "");
    });
    await t.step("every object compares equal in the catalog", async () => {
      const [migrated, declared] = [await catalogOf(fromMigrations), await catalogOf(fromSchemas)];
      assert.ok(migrated.has(
        "function public.search_events(query_embedding extensions.vector, " +
          "match_count integer, event_types text[], user_token text, agent_key text, " +
          "device_key text, location_key text, time_from timestamp with time zone, " +
          "time_to timestamp with time zone, max_distance double precision)",
      ));
      assert.deepEqual(catalogDifferences(migrated, declared), []);
    });

    await t.step("a schema edit with no migration is found and named", async () => {
      const edited = await freshDatabase(admin, names[2], password);
      await applySchemas(edited);
      await psql(
        edited,
        `
        create or replace function bridge.histogram_buckets() returns text[] language sql
        immutable set search_path = '' as $$ select array['1 day'] $$;
        grant select on bridge.nodes to authenticated`,
      );
      assert.deepEqual(
        catalogDifferences(await catalogOf(fromMigrations), await catalogOf(edited)),
        [
          "function bridge.histogram_buckets(): defined differently",
          "relation grants bridge.nodes: defined differently",
        ],
      );
      assert.match(await schemaDiff(fromMigrations, edited), /bridge\.histogram_buckets/);
    });
  } finally {
    for (const name of names) await dropDatabase(admin, name);
  }
});
