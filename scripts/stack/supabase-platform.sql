-- STAND-IN FOR THE SUPABASE PLATFORM, NOT PART OF THE PRODUCT. A hosted project's database has
-- these roles, schemas, auth helpers and default privileges before any migration runs; with no
-- Docker to run Supabase's image, the local stack applies this file to a plain PostgreSQL cluster
-- to start from the same point. Never apply it to a real project. Idempotent.

select format('create role %I nologin noinherit', r)
  from unnest(array['anon', 'authenticated', 'service_role', 'authenticator']) as r
 where not exists (select from pg_roles where rolname = r)
\gexec
alter role service_role bypassrls;
alter role authenticator login password :'authenticator_password';
grant anon, authenticated, service_role to authenticator, postgres;

create schema if not exists extensions;
create schema if not exists auth;
grant usage on schema extensions, auth, public to anon, authenticated, service_role;

-- Supabase's database grants everything in public to the API roles by default; RLS and explicit
-- revokes are what protect objects. The product's migrations must hold up under this.
alter default privileges in schema extensions, public
  grant all on tables to anon, authenticated, service_role;
alter default privileges in schema extensions, public
  grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public grant all on sequences to anon, authenticated, service_role;

-- The auth helpers read the claims PostgREST (and our Edge Functions) put in request.jwt.claims.
create or replace function auth.jwt() returns jsonb language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                  nullif(current_setting('request.jwt.claims', true), ''))::jsonb
$$;
create or replace function auth.uid() returns uuid language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
$$;
create or replace function auth.role() returns text language sql stable as $$
  select coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text
$$;
grant execute on function auth.jwt(), auth.uid(), auth.role() to anon, authenticated, service_role;

-- Supabase enables pg_stat_statements in every project.
create extension if not exists pg_stat_statements with schema extensions;
