-- Each events RPC's remote statement, and the planner settings it runs under, in one place: the
-- step that executes it can also EXPLAIN it (explain_only => true), so public.bridge_health,
-- `npm run doctor` and the benchmark read the plan of the very statement callers run, not a copy
-- of it. A change to a statement, or a setting lost, shows in all of them at once.
--
-- The step returns its rows with a null `plan`; asked to explain, it returns one row whose
-- `plan` is EXPLAIN (VERBOSE, FORMAT JSON) of the statement with the same arguments, and nulls
-- elsewhere. Plans name tables and show arguments, so only roles that bypass RLS (service_role,
-- the owner) may ask for one.
--
-- PostgreSQL allows EXPLAIN only in a volatile function, so both steps are volatile; they still
-- only read, and the public RPCs that wrap them stay stable.
--
-- A histogram's bucket is one of the widths people chart by (bridge.histogram_buckets), as the
-- event-histogram function has it (functions/_shared/interval.ts; tests/limits_test.ts compares
-- the two): a fixed set keeps every bucket count known in advance and every chart's buckets
-- aligned, which arbitrary widths such as '7 hours' or '90 seconds' did not.
--
-- bridge.nearest_events changes its result type, so it is dropped and created again;
-- public.search_events (which has no catalog dependency on it) is then replaced to name its
-- columns. public.event_histogram becomes a wrapper over the new step bridge.event_counts.

drop function if exists bridge.nearest_events(extensions.vector, int, text[], text, text, text, text, timestamptz, timestamptz, float8);

-- Refuses explain_only to a caller that does not bypass RLS.
create or replace function bridge.check_may_explain()
returns void
language plpgsql
stable
set search_path = ''
as $$
begin
  if not exists (select from pg_catalog.pg_roles r
                  where r.rolname = current_user and r.rolbypassrls) then
    raise exception using errcode = '42501',
      message = 'only service_role may read the plan of a bridge statement';
  end if;
end;
$$;

revoke all on function bridge.check_may_explain() from public, anon;
grant execute on function bridge.check_may_explain() to authenticated, service_role;

create function bridge.nearest_events(
  q extensions.vector(768),
  k int,
  types text[],
  user_tok text,
  agent text,
  device text,
  location text,
  t_from timestamptz,
  t_to timestamptz,
  max_dist float8,
  explain_only boolean default false
) returns table (
  event_time timestamptz,
  user_token text,
  agent_key text,
  device_key text,
  location_key text,
  event_type text,
  data_payload_proc jsonb,
  distance float8,
  plan jsonb
)
language plpgsql
volatile
set search_path = ''
-- The top-k must be sorted on the node, where the HNSW index is. postgres_fdw pushes ORDER BY
-- only when its cost estimate favours it, which depends on statistics of the foreign table;
-- with no local sort allowed the pushed-down order is chosen whatever the statistics say.
set enable_sort = off
as $$
declare
  filters text := '';
  statement text;
begin
  if q is null then
    raise exception using errcode = '22023',
      message = 'query_embedding must be a vector of 768 numbers, got null';
  end if;
  if k is null or k not between 1 and 100 then
    raise exception using errcode = '22023',
      message = format('match_count must be between 1 and 100, got %s', coalesce(k::text, 'null'));
  end if;
  if t_from > t_to then
    raise exception using errcode = '22023',
      message = format('time_from (%s) must not be after time_to (%s)', t_from, t_to);
  end if;
  if max_dist < 0 or max_dist > 2 then
    raise exception using errcode = '22023',
      message = format('max_distance must be between 0 and 2 (cosine distance), got %s', max_dist);
  end if;
  if cardinality(types) = 0 then
    raise exception using errcode = '22023',
      message = 'event_types must name at least one type, or be null for all types';
  end if;

  -- Only the filters given reach the remote WHERE clause, as parameters:
  -- $1 q, $2 k, $3 types, $4 user_tok, $5 agent, $6 device, $7 location, $8 t_from, $9 t_to,
  -- $10 max_dist.
  if types is not null then filters := filters || ' and e.event_type = any($3)'; end if;
  if user_tok is not null then filters := filters || ' and e.user_token = $4'; end if;
  if agent is not null then filters := filters || ' and e.agent_key = $5'; end if;
  if device is not null then filters := filters || ' and e.device_key = $6'; end if;
  if location is not null then filters := filters || ' and e.location_key = $7'; end if;
  if t_from is not null then filters := filters || ' and e.event_time >= $8'; end if;
  if t_to is not null then filters := filters || ' and e.event_time < $9'; end if;
  if max_dist is not null then
    filters := filters || ' and (e.event_embedding operator(extensions.<=>) $1) <= $10';
  end if;

  -- The caller's scope is applied by the view (20261126000520_events_in_scope.sql).
  statement :=
    'select e.event_time, e.user_token, e.agent_key, e.device_key, e.location_key,
            e.event_type, e.data_payload_proc,
            e.event_embedding operator(extensions.<=>) $1 as distance
       from bridge.events_in_scope e
      where e.event_embedding is not null' || filters || '
      order by e.event_embedding operator(extensions.<=>) $1
      limit $2';

  if explain_only then
    perform bridge.check_may_explain();
    execute 'explain (verbose, format json) ' || statement into plan
      using q, k, types, user_tok, agent, device, location, t_from, t_to, max_dist;
    return next;
    return;
  end if;
  return query execute 'select s.*, null::jsonb from (' || statement || ') s'
    using q, k, types, user_tok, agent, device, location, t_from, t_to, max_dist;
end;
$$;

revoke all on function bridge.nearest_events(extensions.vector, int, text[], text, text, text, text, timestamptz, timestamptz, float8, boolean) from public, anon;
grant execute on function bridge.nearest_events(extensions.vector, int, text[], text, text, text, text, timestamptz, timestamptz, float8, boolean) to authenticated, service_role;

create or replace function public.search_events(
  query_embedding extensions.vector(768),
  match_count int default 10,
  event_types text[] default null,
  user_token text default null,
  agent_key text default null,
  device_key text default null,
  location_key text default null,
  time_from timestamptz default null,
  time_to timestamptz default null,
  max_distance float8 default null
) returns table (
  event_time timestamptz,
  user_token text,
  agent_key text,
  device_key text,
  location_key text,
  event_type text,
  data_payload_proc jsonb,
  distance float8
)
language sql
stable
security invoker
set search_path = ''
as $$
  select n.event_time, n.user_token, n.agent_key, n.device_key, n.location_key, n.event_type,
         n.data_payload_proc, n.distance
    from bridge.nearest_events(query_embedding, match_count, event_types, user_token, agent_key,
           device_key, location_key, time_from, time_to, max_distance) n
$$;

revoke all on function public.search_events(extensions.vector, int, text[], text, text, text, text, timestamptz, timestamptz, float8) from public, anon;
grant execute on function public.search_events(extensions.vector, int, text[], text, text, text, text, timestamptz, timestamptz, float8) to authenticated, service_role;

-- The accepted buckets, as people write them.
create or replace function bridge.histogram_buckets()
returns text[]
language sql
immutable
set search_path = ''
as $$
  select array['10 seconds', '30 seconds', '1 minute', '5 minutes', '10 minutes', '15 minutes',
               '30 minutes', '1 hour', '3 hours', '6 hours', '12 hours', '1 day',
               '7 days']
$$;

revoke all on function bridge.histogram_buckets() from public, anon;
grant execute on function bridge.histogram_buckets() to authenticated, service_role;

create or replace function bridge.event_counts(
  bucket interval,
  time_from timestamptz,
  time_to timestamptz,
  event_types text[],
  explain_only boolean default false
) returns table (
  bucket_start timestamptz,
  event_type text,
  events bigint,
  plan jsonb
)
language plpgsql
volatile
set search_path = ''
-- The grouping belongs on the node. postgres_fdw pushes an aggregate only when its estimates
-- favour it; with no local way to group, the pushed-down GROUP BY is chosen whatever the
-- statistics of the foreign table say (see bridge.nearest_events).
set enable_hashagg = off
set enable_sort = off
as $$
declare
  max_buckets constant int := 10000;
  bucket_count numeric;
  filters text := '';
  statement text;
begin
  if bucket is null or bucket <> all (bridge.histogram_buckets()::interval[]) then
    raise exception using errcode = '22023',
      message = format('bucket must be one of %s, got %s',
        array_to_string(bridge.histogram_buckets(), ', '), coalesce(bucket::text, 'null'));
  end if;
  if time_from is null or time_to is null then
    raise exception using errcode = '22023', message = 'time_from and time_to are required';
  end if;
  if time_from > time_to then
    raise exception using errcode = '22023',
      message = format('time_from (%s) must not be after time_to (%s)', time_from, time_to);
  end if;
  bucket_count := ceil(extract(epoch from time_to - time_from) / extract(epoch from bucket));
  if bucket_count > max_buckets then
    raise exception using errcode = '22023',
      message = format('bucket %s over this time range makes %s buckets; at most %s are allowed',
        bucket, bucket_count, max_buckets);
  end if;
  if cardinality(event_types) = 0 then
    raise exception using errcode = '22023',
      message = 'event_types must name at least one type, or be null for all types';
  end if;

  if event_types is not null then filters := ' and e.event_type = any($4)'; end if;

  -- Buckets are aligned to time_from, so the first bucket starts where the range does. The
  -- caller's scope is applied by the view (20261126000520_events_in_scope.sql).
  statement :=
    'select date_bin($1, e.event_time, $2) as bucket_start, e.event_type, count(*) as events
       from bridge.events_in_scope e
      where e.event_time >= $2 and e.event_time < $3' || filters || '
      group by 1, 2
      order by 1, 2';

  if explain_only then
    perform bridge.check_may_explain();
    execute 'explain (verbose, format json) ' || statement into plan
      using bucket, time_from, time_to, event_types;
    return next;
    return;
  end if;
  return query execute 'select s.*, null::jsonb from (' || statement || ') s'
    using bucket, time_from, time_to, event_types;
end;
$$;

revoke all on function bridge.event_counts(interval, timestamptz, timestamptz, text[], boolean) from public, anon;
grant execute on function bridge.event_counts(interval, timestamptz, timestamptz, text[], boolean) to authenticated, service_role;

create or replace function public.event_histogram(
  bucket interval,
  time_from timestamptz,
  time_to timestamptz,
  event_types text[] default null
) returns table (
  bucket_start timestamptz,
  event_type text,
  events bigint
)
language sql
stable
security invoker
set search_path = ''
as $$
  select c.bucket_start, c.event_type, c.events
    from bridge.event_counts(bucket, time_from, time_to, event_types) c
$$;

revoke all on function public.event_histogram(interval, timestamptz, timestamptz, text[]) from public, anon;
grant execute on function public.event_histogram(interval, timestamptz, timestamptz, text[]) to authenticated, service_role;

-- public.bridge_health: as 20261125000750, but "pushed down" is read from the plan of the
-- search callers run (bridge.nearest_events, unfiltered top-10), not from a copy of it.
create or replace function public.bridge_health()
returns table (
  reachable boolean,
  round_trip_ms float8,
  problem text,
  search_pushed_down boolean,
  remote_sql text
)
language plpgsql
volatile
security definer
set search_path = ''
as $$
declare
  started timestamptz := clock_timestamp();
  plan jsonb;
  top jsonb;
begin
  begin
    perform from bridge.events e limit 1;
    reachable := true;
    round_trip_ms := extract(epoch from clock_timestamp() - started) * 1000;
  exception when others then
    -- Only the primary message: the detail of a connection error names the host.
    reachable := false;
    problem := sqlerrm;
  end;

  -- EXPLAIN plans without contacting the node, so this is reported even while it is down.
  select n.plan into plan
    from bridge.nearest_events(array_fill(1, array[768])::real[]::extensions.vector, 10,
           null, null, null, null, null, null, null, null, explain_only => true) n;

  -- Pushed down: the top node is the foreign scan itself, and its Remote SQL sorts by distance
  -- and limits. A local Limit or Sort above it means every row crosses the link.
  top := plan -> 0 -> 'Plan';
  remote_sql := regexp_replace(top ->> 'Remote SQL', '''\[[^'']*\]''', '''[...]''', 'g');
  search_pushed_down := top ->> 'Node Type' = 'Foreign Scan'
    and remote_sql ~ 'ORDER BY .*OPERATOR\(extensions\.<=>\)'
    and remote_sql ~ 'LIMIT';
  return next;
end;
$$;

revoke all on function public.bridge_health() from public, anon, authenticated;
grant execute on function public.bridge_health() to service_role;
