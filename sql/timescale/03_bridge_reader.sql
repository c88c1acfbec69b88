-- The link role: LOGIN, read-only, SELECT on the export schema only.
-- The password is never in a file: pass it as a psql variable,
--   psql "$TIMESCALE_DB_URL" -v ON_ERROR_STOP=1 -v bridge_password="$BRIDGE_PASSWORD" -f 03_bridge_reader.sql

-- Without the variable the script stops here with an error, whether or not ON_ERROR_STOP was
-- given, so a loop over the files cannot report success having made no link role.
\if :{?bridge_password}
\else
  \set ON_ERROR_STOP on
  do $$ begin
    raise exception 'bridge_password is not set: pass the link password as a psql variable, '
      'psql -v ON_ERROR_STOP=1 -v bridge_password="$BRIDGE_PASSWORD" -f 03_bridge_reader.sql '
      '(README.md, "Pointing the bridge at a real Supabase project")';
  end $$;
\endif

select 'create role bridge_reader login'
 where not exists (select from pg_roles where rolname = 'bridge_reader')
\gexec

alter role bridge_reader with login nosuperuser nocreatedb nocreaterole noinherit noreplication
  password :'bridge_password';

-- Read-only at every level: no write even if a grant slips in, a bound on every statement,
-- and search settings so filtered HNSW queries still return k rows (iterative scans keep
-- walking the graph until enough rows pass the filter; strict order keeps the top-k exact in
-- distance order as the bridge expects: docs/design.md § iterative scans keep k rows under a
-- filter).
alter role bridge_reader set default_transaction_read_only = on;
alter role bridge_reader set statement_timeout = '15s';
alter role bridge_reader set idle_in_transaction_session_timeout = '60s';
alter role bridge_reader set hnsw.ef_search = 100;
alter role bridge_reader set hnsw.iterative_scan = 'strict_order';
-- postgres_fdw reads every result through a cursor, which the planner otherwise plans for the
-- first 10% of rows only; the bridge always reads to the end (LIMIT is in the query), so plan
-- for all of it, as the same query run directly would be.
alter role bridge_reader set cursor_tuple_fraction = 1.0;

-- Nothing to create anywhere: no schema (CREATE on the database and on public are not PUBLIC's
-- since PostgreSQL 15, revoked here for older nodes) and no temporary tables, which a read-only
-- transaction would still allow. TEMP is PUBLIC's by default, so it is revoked from PUBLIC.
revoke create on schema public from public;
select format('revoke create, temporary on database %I from public', current_database())
\gexec
grant usage on schema export to bridge_reader;
grant usage on schema extensions to bridge_reader;
grant select on all tables in schema export to bridge_reader;
alter default privileges in schema export grant select on tables to bridge_reader;
