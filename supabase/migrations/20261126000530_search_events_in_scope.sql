-- public.search_events within the caller's scope: the search reads bridge.events_in_scope
-- (20261126000520_events_in_scope.sql) instead of the foreign table, so the node finds the k
-- nearest events among those the caller may see. Otherwise as 20261125000500_search_events.sql:
-- the filters given, ORDER BY event_embedding <=> $1 and LIMIT k are executed on the node.
--
-- Both steps now run as the caller (SECURITY INVOKER): the view reads the foreign table with its
-- owner's rights and the scope with the caller's, so neither step needs to be a definer, and
-- calling bridge.nearest_events directly sees no more than calling public.search_events.

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
  max_dist float8
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
language plpgsql
stable
set search_path = ''
-- The top-k must be sorted on the node, where the HNSW index is. postgres_fdw pushes ORDER BY
-- only when its cost estimate favours it, which depends on statistics of the foreign table;
-- with no local sort allowed the pushed-down order is chosen whatever the statistics say.
set enable_sort = off
as $$
declare
  filters text := '';
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

  return query execute
    'select e.event_time, e.user_token, e.agent_key, e.device_key, e.location_key,
            e.event_type, e.data_payload_proc,
            e.event_embedding operator(extensions.<=>) $1 as distance
       from bridge.events_in_scope e
      where e.event_embedding is not null' || filters || '
      order by e.event_embedding operator(extensions.<=>) $1
      limit $2'
    using q, k, types, user_tok, agent, device, location, t_from, t_to, max_dist;
end;
$$;

revoke all on function bridge.nearest_events(extensions.vector, int, text[], text, text, text, text, timestamptz, timestamptz, float8) from public, anon;
grant execute on function bridge.nearest_events(extensions.vector, int, text[], text, text, text, text, timestamptz, timestamptz, float8) to authenticated, service_role;

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
  select * from bridge.nearest_events(query_embedding, match_count, event_types, user_token,
    agent_key, device_key, location_key, time_from, time_to, max_distance)
$$;

revoke all on function public.search_events(extensions.vector, int, text[], text, text, text, text, timestamptz, timestamptz, float8) from public, anon;
grant execute on function public.search_events(extensions.vector, int, text[], text, text, text, text, timestamptz, timestamptz, float8) to authenticated, service_role;
