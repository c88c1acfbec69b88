/**
 * `npm run token -- --user <uuid>`: an access token for any user of the local stack, signed with
 * the stack's JWT signing key as Supabase Auth signs a session (ES256, `aud` authenticated,
 * valid for an hour), for trying row level security by hand. Prints the token alone.
 */
import { parseArgs } from "node:util";
import { signSession } from "./stack/auth.ts";
import { stackConfig } from "./stack/config.ts";
import { envFile, readEnvFile } from "./stack/env.ts";

const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const { values: { user } } = parseArgs({ args: Deno.args, options: { user: { type: "string" } } });
if (!user || !uuid.test(user)) {
  console.error("usage: npm run token -- --user <uuid>   (the user's id, e.g. a missions.owner)");
  Deno.exit(2);
}
const file = envFile(stackConfig());
const { JWT_SIGNING_KEY, SUPABASE_URL } = readEnvFile(file);
if (!JWT_SIGNING_KEY || !SUPABASE_URL) {
  console.error(`no stack keys in ${file}: run \`npm start\` (or \`npm run stack:up\`) first`);
  Deno.exit(1);
}
console.log(await signSession(JSON.parse(JWT_SIGNING_KEY), SUPABASE_URL, user));
