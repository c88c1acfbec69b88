-- public.event_histogram within the caller's scope: the counts are grouped over
-- bridge.events_in_scope (20261126000520_events_in_scope.sql), so the node counts only the
-- events the caller may see and no count says anything about the others. Otherwise as
-- 20261125000700_event_histogram.sql: date_bin, the filters and GROUP BY run on the node.
-- SECURITY INVOKER now: the view reads the foreign table with its owner's rights and the scope
-- with the caller's.

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
language plpgsql
stable
security invoker
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
begin
  if bucket is null or bucket <= interval '0' then
    raise exception using errcode = '22023',
      message = format('bucket must be a positive interval such as ''5 minutes'', got %s', coalesce(bucket::text, 'null'));
  end if;
  if extract(month from bucket) <> 0 or extract(year from bucket) <> 0 then
    raise exception using errcode = '22023',
      message = format('bucket must be given in days or smaller units (not months or years), got %s', bucket);
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

  -- Buckets are aligned to time_from, so the first bucket starts where the range does.
  return query execute
    'select date_bin($1, e.event_time, $2) as bucket_start, e.event_type, count(*) as events
       from bridge.events_in_scope e
      where e.event_time >= $2 and e.event_time < $3' || filters || '
      group by 1, 2
      order by 1, 2'
    using bucket, time_from, time_to, event_types;
end;
$$;

revoke all on function public.event_histogram(interval, timestamptz, timestamptz, text[]) from public, anon;
grant execute on function public.event_histogram(interval, timestamptz, timestamptz, text[]) to authenticated, service_role;
