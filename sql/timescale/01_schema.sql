-- The Timescale node's tables: events (with a 768-d embedding) and activity_log, as hypertables.
-- Idempotent: safe to apply again with psql -v ON_ERROR_STOP=1 -f, by our tooling or by hand.
--
-- pgvector lives in schema `extensions`, the schema Supabase installs it in: postgres_fdw ships
-- operators schema-qualified (OPERATOR(extensions.<=>)), so both nodes must agree on the schema
-- (DESIGN.md fact 2).

create schema if not exists extensions;
create extension if not exists vector with schema extensions;
create extension if not exists timescaledb;

create table if not exists public.events (
  event_time        timestamptz not null,
  user_token        text not null,          -- pseudonymous token, never an email or a name
  agent_key         text not null,
  device_key        text not null,
  location_key      text not null,
  event_type        text not null,
  data_payload_proc jsonb not null default '{}',
  event_embedding   extensions.vector(768)
);

-- Chunk interval for search, not for ingest: an HNSW query is a Merge Append over one index per
-- chunk, so fewer chunks make top-k faster. 7-day chunks measured ~7.5 ms for an unfiltered
-- top-10 over 30 days versus ~90 ms with 1-day chunks (DESIGN.md fact 5); callers pass a time
-- window to prune chunks further.
select public.create_hypertable('public.events', by_range('event_time', interval '7 days'),
  if_not_exists => true);

-- activity_log is read by mission and time range; 7-day chunks keep the chunk count small for
-- a 30-day history too.
create table if not exists public.activity_log (
  event_time timestamptz not null,
  mission_id bigint not null,
  agent_id   text not null,
  action     text not null,
  details    jsonb not null default '{}'
);

select public.create_hypertable('public.activity_log', by_range('event_time', interval '7 days'),
  if_not_exists => true);

-- Cosine distance (<=>) is what the bridge searches with; m and ef_construction are pgvector's
-- defaults, which reached recall@10 >= 0.95 with ef_search 100 on the seeded data.
create index if not exists events_embedding_hnsw
  on public.events using hnsw (event_embedding extensions.vector_cosine_ops);
create index if not exists events_type_time
  on public.events (event_type, event_time desc);
create index if not exists activity_log_mission_time
  on public.activity_log (mission_id, event_time desc);
