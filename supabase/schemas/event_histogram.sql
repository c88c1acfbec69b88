-- public.event_histogram: how many events of each type fall in each time bucket, within the
-- caller's scope, counted on the nodes. public.event_histogram is the RPC callers see and runs
-- as the caller; bridge.event_counts is its step, explainable as bridge.nearest_events is.
--
-- A bucket is one of the widths people chart by (bridge.histogram_buckets), as the
-- event-histogram function has it (functions/_shared/interval.ts): a fixed set keeps every
-- bucket count known in advance and every chart's buckets aligned, which arbitrary widths such
-- as '7 hours' or '90 seconds' would not.
--
-- Each node groups and counts; only counts cross, summed here. The sum groups by event_type,
-- then bucket, an order no branch can give (PostgreSQL 15 groups in the order written unless the
-- same level sorts otherwise, hence the sort one level up): merging branches sorted on the node
-- would let the planner group them here instead of on the node. The sum still selects the
-- branches' columns in their own order (bucket_start, event_type, events): in another order
-- PostgreSQL 15 keeps a Subquery Scan above each node's grouped scan, which cannot run
-- asynchronously, and the nodes would be asked one after another
-- (docs/design.md § async plan shapes). JIT is off for the reason bridge.nearest_events gives.

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

-- The step: checks the arguments, then counts on the nodes, or EXPLAINs the statement
-- (explain_only => true, as bridge.nearest_events does, search_events.sql).
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
set jit = off
as $$
declare
  max_buckets constant int := 10000;
  bucket_count numeric;
  filters text := '';
  branches text[];
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
  -- caller's scope is applied by each node's scope view (access.sql, nodes.sql).
  select array_agg(format(
           'select date_bin($1, e.event_time, $2) as bucket_start, e.event_type, count(*) as events
       from %s e
      where e.event_time >= $2 and e.event_time < $3%s%s
      group by 1, 2', b.source, filters, b.slice))
    into branches
    from bridge.node_branches('events_in_scope', 'e', time_from, time_to,
           jsonb_strip_nulls(jsonb_build_object('event_type', to_jsonb(event_types)))) b;
  statement := case when cardinality(branches) = 1 then branches[1] || '
      order by 1, 2'
    else 'select g.bucket_start, g.event_type, g.events
       from (select s.bucket_start, s.event_type, sum(s.events)::bigint as events
               from ((' || array_to_string(branches, ') union all (') || ')) s
              group by s.event_type, s.bucket_start) g
      order by 1, 2' end;

  if explain_only then
    perform bridge.check_may_explain();
    execute 'explain (verbose, format json) ' || statement into plan
      using bucket, time_from, time_to, event_types;
    -- One row: the plan, and no count.
    return query select null::timestamptz, null::text, null::bigint, plan;
    return;
  end if;
  return query execute 'select s.*, null::jsonb from (' || statement || ') s'
    using bucket, time_from, time_to, event_types;
end;
$$;

revoke all on function bridge.event_counts(interval, timestamptz, timestamptz, text[], boolean) from public, anon;
grant execute on function bridge.event_counts(interval, timestamptz, timestamptz, text[], boolean) to authenticated, service_role;

-- PostgreSQL 17 reorders GROUP BY keys to match its input (enable_group_by_reordering, new in 17):
-- it would merge the nodes' branches sorted and count every event here, instead of taking each
-- node's pushed-down GROUP BY (docs/design.md § 17 reorders GROUP BY keys). Off for this step, 17
-- plans as 15 does; 15 has no such setting. A project upgraded from 15 to 17 in place runs this
-- statement again.
do $$
begin
  if pg_catalog.current_setting('server_version_num')::int >= 170000 then
    alter function bridge.event_counts(interval, timestamptz, timestamptz, text[], boolean)
      set enable_group_by_reordering = off;
  end if;
end;
$$;

-- The RPC callers see: the step's counts without its plan column.
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
