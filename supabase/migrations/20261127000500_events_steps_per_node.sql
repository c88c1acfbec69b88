-- The events steps ask each node for its own answer (issue 13, DESIGN.md fact 11): one branch
-- per node that can hold matching rows (bridge.node_branches), each a statement of its own on
-- that node's scope view, with the node's slice as a predicate, joined by UNION ALL and merged
-- here. Same arguments, checks, answers and explain_only as 20261126000700.
--
-- - bridge.nearest_events: each node runs ORDER BY <=> LIMIT k on its HNSW index, so at most k
--   rows per node cross; the top k of those is the answer. The merge orders by distance, then
--   event_time: an order no branch gives, so the planner appends the branches and sorts them
--   (an Append, whose foreign scans run asynchronously, all nodes at once) rather than merging
--   them in order (a Merge Append, which asks the nodes one after another). Incremental sort is
--   off for the same reason: it would sort a Merge Append of the branches by event_time.
-- - bridge.event_counts: each node groups and counts; only counts cross, summed here. The sum
--   groups by event_type, then bucket, an order no branch can give (PostgreSQL 15 groups in the
--   order written unless the same level sorts otherwise, hence the sort one level up): merging
--   branches sorted on the node would let the planner group them here instead of on the node.
--   The sum still selects the branches' columns in their own order (bucket_start, event_type,
--   events): in another order PostgreSQL 15 keeps a Subquery Scan above each node's grouped
--   scan, which cannot run asynchronously, and the nodes were asked one after another.
--
-- With several nodes the merge must sort, which enable_sort = off prices as a disabled plan; the
-- cost then passes jit_above_cost, and JIT compiling would add more time than the whole call
-- takes, so JIT is off in both steps.
--
-- With the default node alone there is one branch, and the statement is exactly the one sent
-- before: the same Remote SQL, the same plan.

create or replace function bridge.nearest_events(
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
set enable_incremental_sort = off
set jit = off
as $$
declare
  filters text := '';
  branches text[];
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

  -- The caller's scope is applied by each node's scope view (20261127000200_node_layout.sql).
  select array_agg(format(
           'select e.event_time, e.user_token, e.agent_key, e.device_key, e.location_key,
            e.event_type, e.data_payload_proc,
            e.event_embedding operator(extensions.<=>) $1 as distance
       from %s e
      where e.event_embedding is not null%s%s
      order by e.event_embedding operator(extensions.<=>) $1
      limit $2', b.source, filters, b.slice))
    into branches
    from bridge.node_branches('events_in_scope', 'e', t_from, t_to,
           -- The call's equality filters, by column: a list slice prunes on them.
           jsonb_strip_nulls(jsonb_build_object(
             'event_type', to_jsonb(types),
             'user_token', case when user_tok is not null then jsonb_build_array(user_tok) end,
             'agent_key', case when agent is not null then jsonb_build_array(agent) end,
             'device_key', case when device is not null then jsonb_build_array(device) end,
             'location_key', case when location is not null then jsonb_build_array(location) end)))
           b;
  statement := case when cardinality(branches) = 1 then branches[1]
    else 'select s.* from ((' || array_to_string(branches, ') union all (') || ')) s
      order by s.distance, s.event_time
      limit $2' end;

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
  -- caller's scope is applied by each node's scope view (20261127000200_node_layout.sql).
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
    return next;
    return;
  end if;
  return query execute 'select s.*, null::jsonb from (' || statement || ') s'
    using bucket, time_from, time_to, event_types;
end;
$$;
