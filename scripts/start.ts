/**
 * `npm start [-- --supabase-pg 15|17]`: the dev stack up (the Supabase side on PostgreSQL 17
 * unless asked for 15), a demo dataset when the nodes are empty, every Edge Function deployed with `supabase functions deploy` and served at
 * http://127.0.0.1:54321/functions/v1/<name>, and what to paste to try it: the API keys and a
 * signed-in demo user's access token.
 */
import { parseArgs } from "node:util";
import { seedUserId } from "./seed/generate.ts";
import { grantDemoScopes } from "./seed/scopes.ts";
import { signSession } from "./stack/auth.ts";
import { stackConfig, supabasePgVersion } from "./stack/config.ts";
import { deployFunctions, profileFile } from "./stack/deploy.ts";
import { envFile, readEnvFile } from "./stack/env.ts";
import { stackUp } from "./stack/lifecycle.ts";
import { psql } from "./stack/postgres.ts";
import { seedStack } from "./stack/throwaway.ts";
import { serveFunctions } from "./serve-functions.ts";

const { values } = parseArgs({ args: Deno.args, options: { "supabase-pg": { type: "string" } } });
const config = stackConfig();
if (values["supabase-pg"] !== undefined) {
  config.supabasePg = supabasePgVersion(values["supabase-pg"]);
}
await stackUp(config).catch((error) => {
  console.error(`start: ${error.message}`);
  Deno.exit(1);
});
const env = readEnvFile(envFile(config));
const version = (await psql(env.SUPABASE_DB_URL, "show server_version", { tuplesOnly: true }))
  .trim();

const events = Number(
  await psql(env.TIMESCALE_DB_URL, "select count(*) from public.events", { tuplesOnly: true }),
);
if (events === 0) {
  console.error("start: the nodes are empty; loading the demo dataset");
  await seedStack({ config, env }, []);
}
// Also on a stack seeded before events were scoped: without grants, demo users see nothing.
await grantDemoScopes(env.SUPABASE_DB_URL);

// The gateway, in this process, then the real CLI's deploy through it: what it uploads is what
// is served.
const gateway = await serveFunctions(config);
const deployStarted = performance.now();
try {
  await deployFunctions(config);
} catch (error) {
  await gateway.stop();
  console.error(`start: supabase functions deploy failed:\n${(error as Error).message}`);
  Deno.exit(1);
}
const deploySeconds = ((performance.now() - deployStarted) / 1000).toFixed(1);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, async () => {
    await gateway.stop();
    Deno.exit(0);
  });
}

const publishableKey = JSON.parse(env.SUPABASE_PUBLISHABLE_KEYS).default;
const secretKey = JSON.parse(env.SUPABASE_SECRET_KEYS).default;
const demoUser = seedUserId(1);
// Valid for a day: long enough to paste, short enough to be a session.
const demoToken = await signSession(JSON.parse(env.JWT_SIGNING_KEY), env.SUPABASE_URL, demoUser, {
  expiresIn: 24 * 3600,
});

console.log(`
FDW bridge is up, the Supabase side on PostgreSQL ${version}.

  Supabase database   ${env.SUPABASE_DB_URL}
  Timescale database  ${env.TIMESCALE_DB_URL}
  API URL             ${env.SUPABASE_URL}
  publishable key     ${publishableKey}
  secret key          ${secretKey}   (servers only: runs as service_role)
  demo user           ${demoUser}
  its access token    ${demoToken}
                      (another user's: npm run token -- --user <uuid>)
  everything above    ${envFile(config)}

Edge Functions: ${gateway.workers.slugs.join(", ")}, deployed by \`supabase functions deploy\`
(${deploySeconds} s) and served from what it uploaded (${config.dir}/functions/), at
${env.SUPABASE_URL}/functions/v1/<name>. After changing one, redeploy it to the stack:

  SUPABASE_ACCESS_TOKEN=${env.STACK_ACCESS_TOKEN} npx supabase functions deploy events-search \\
    --profile ${profileFile(config)} --remote=${env.STACK_PROJECT_REF} --yes

Try the nearest events to a stored one, through the RPC:

  psql "${env.SUPABASE_DB_URL}" -c "select event_time, event_type, distance
    from public.search_events(
      (select event_embedding from bridge.events limit 1), 5)"

and as seed user 1, who sees only the events of their sites (README, Security):

  psql "${env.SUPABASE_DB_URL}" -c "begin" -c "set local role authenticated" \\
    -c "select set_config('request.jwt.claims', '{\\"sub\\": \\"${demoUser}\\"}', true)" \\
    -c "select event_time, location_key, distance from public.search_events(
          array_fill(0.01::real, array[768])::extensions.vector, 5)" -c "commit"

and mission 12345 with its activity:

  psql "${env.SUPABASE_DB_URL}" -c "select * from public.mission_activity(array[12345], max_rows => 5)"

and the Edge Functions, as an app's supabase.functions.invoke calls them, as the
signed-in demo user:

  curl -s ${env.SUPABASE_URL}/functions/v1/events-search \\
    -H "apikey: ${publishableKey}" \\
    -H "Authorization: Bearer ${demoToken}" \\
    -H "Content-Type: application/json" \\
    -d "{\\"k\\": 3, \\"embedding\\": [$(seq -s, 768 | sed 's/[0-9]*/0.01/g')]}"

and as the service role, with the secret key:

  curl -s ${env.SUPABASE_URL}/functions/v1/bridge-health -H "apikey: ${secretKey}"
`);
