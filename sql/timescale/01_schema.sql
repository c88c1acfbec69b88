-- The Timescale node's tables, events (with a 768-d embedding) and activity_log, exactly as the
-- founding document declares them: column order and types are the contract the bridge reads.
-- Idempotent: safe to apply again with psql -v ON_ERROR_STOP=1 -f, by our tooling or by hand.
--
-- A node that already holds these tables is adopted as it is: a table that exists is never
-- created, altered, converted or rewritten here, so its rows, types and storage stay as they
-- are, and a plain table stays a plain table (npm run doctor says what that costs). Only the
-- indexes the bridge's queries need are added when missing; on a large table, build them ahead
-- of time without blocking writes (README.md, "Adopting a node that already has the tables").
--
-- pgvector lives in schema `extensions`, the schema Supabase installs it in: postgres_fdw ships
-- operators schema-qualified (OPERATOR(extensions.<=>)), so both nodes must agree on the schema
-- (docs/design.md § operator schemas match on both sides).

create schema if not exists extensions;
create extension if not exists vector with schema extensions;
create extension if not exists timescaledb;

-- What a cosine distance costs, told to the planner, so a search over many events uses the HNSW
-- index and one over few rows an exact scan (docs/design.md § cost of cosine_distance: pgvector
-- prices it as one addition, while each distance reads a 3 KB embedding out of line). Applied
-- again by this script, as pgvector's upgrades may reset it.
alter function extensions.cosine_distance(extensions.vector, extensions.vector) cost 700;

-- data_payload_raw is the payload as it arrived, where personal data ends up; it stays on this
-- node (02_export.sql leaves it out). data_payload_proc is the processed, pseudonymous payload
-- the bridge may read.
--
-- Chunk interval for search, not for ingest: an HNSW query is a Merge Append over one index per
-- chunk, so fewer chunks make top-k faster (docs/design.md § HNSW per chunk); callers pass a
-- time window to prune chunks further.
do $$
begin
  if to_regclass('public.events') is null then
    create table public.events (
      event_time        timestamptz not null,
      user_token        text not null,          -- pseudonymous token, never an email or a name
      agent_key         text not null,
      device_key        text not null,
      location_key      text not null,
      event_type        text not null,
      data_payload_raw  jsonb not null default '{}',
      data_payload_proc jsonb not null default '{}',
      event_embedding   extensions.vector(768)
    );
    perform public.create_hypertable('public.events', public.by_range('event_time', interval '7 days'));
  end if;
end;
$$;

-- activity_log is read by mission and time range; 7-day chunks keep the chunk count small for
-- a 30-day history too.
do $$
begin
  if to_regclass('public.activity_log') is null then
    create table public.activity_log (
      event_time timestamptz not null,
      agent_id   bigint not null,
      mission_id bigint not null,
      action     text not null,
      details    jsonb not null default '{}'
    );
    perform public.create_hypertable('public.activity_log', public.by_range('event_time', interval '7 days'));
  end if;
end;
$$;

-- Cosine distance (<=>) is what the bridge searches with; m and ef_construction are pgvector's
-- defaults, which reached recall@10 >= 0.95 with ef_search 100 on the seeded data.
-- An index that exists under one of these names is kept as it is.
create index if not exists events_embedding_hnsw
  on public.events using hnsw (event_embedding extensions.vector_cosine_ops);
create index if not exists events_type_time
  on public.events (event_type, event_time desc);
create index if not exists activity_log_mission_time
  on public.activity_log (mission_id, event_time desc);
