/**
 * `npm run migration:new -- <name>`: the migration that takes a database built from
 * supabase/migrations/ to the one supabase/schemas/ defines, written as
 * supabase/migrations/<timestamp>_<name>.sql; or says there is no difference. Both databases are
 * built on a throwaway stack's Supabase cluster (ports above MIGRATION_PORT_BASE), which is then
 * stopped and deleted.
 */
import { join } from "node:path";
import { repoRoot } from "./stack/config.ts";
import { portsFromBase, startThrowawayStack, stopThrowawayStacks } from "./stack/throwaway.ts";
import { applySchemas, freshDatabase, pushMigrations, schemaDiff } from "./schemas/databases.ts";

const name = Deno.args[0] ?? "";
if (!/^[a-z][a-z0-9_]{0,59}$/.test(name)) {
  console.error("usage: npm run migration:new -- <name> (lowercase letters, digits and _)");
  Deno.exit(2);
}

try {
  const stack = await startThrowawayStack("migration", portsFromBase("MIGRATION_PORT_BASE", 21320));
  const [admin, password] = [stack.env.SUPABASE_DB_URL, stack.env.AUTHENTICATOR_PASSWORD];
  const fromMigrations = await freshDatabase(admin, "from_migrations", password);
  await pushMigrations(fromMigrations);
  const fromSchemas = await freshDatabase(admin, "from_schemas", password);
  await applySchemas(fromSchemas);
  const difference = await schemaDiff(fromMigrations, fromSchemas);
  if (difference === "") {
    console.log("migration:new: supabase/schemas/ and supabase/migrations/ define the same bridge");
  } else {
    const stamp = new Date().toISOString().replace(/\D/g, "").slice(0, 14);
    const file = join(repoRoot, "supabase", "migrations", `${stamp}_${name}.sql`);
    Deno.writeTextFileSync(file, difference + "\n");
    console.log(`migration:new: wrote ${file}; read it before you commit it`);
  }
} finally {
  await stopThrowawayStacks();
}
