-- Extensions the bridge needs, in schema `extensions` as Supabase installs them: never in
-- public (the advisor flags extension_in_public), and the vector type's schema must match the
-- Timescale node's, since postgres_fdw ships operators schema-qualified (DESIGN.md fact 2).

create extension if not exists postgres_fdw with schema extensions;
create extension if not exists vector with schema extensions;
