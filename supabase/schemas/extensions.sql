-- The extensions the bridge needs, in schema `extensions` as Supabase installs them: never in
-- public (the advisors flag extension_in_public), and the vector type's schema must match the
-- Timescale node's, since postgres_fdw ships operators schema-qualified
-- (docs/design.md § operator schemas match on both sides).

create extension if not exists postgres_fdw with schema extensions;
create extension if not exists vector with schema extensions;
