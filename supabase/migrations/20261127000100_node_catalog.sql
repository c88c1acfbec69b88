-- Several Timescale nodes behind one bridge (issue 13): the catalog of nodes and their slices.
--
-- A node is a Timescale host holding one slice of the data: either a time range of event_time
-- (hot and cold tiers) or the rows whose value of one column is in a list (one node per site,
-- say location_key). The default node is the one `bridge.configure` links (server events_ts):
-- it has no slice and holds every row no other node's slice covers. With the default node alone,
-- which is where every project starts, nothing changes: bridge.events and bridge.activity_log are
-- its foreign tables, as before.
--
-- Every sliced node slices by the same column, because a partitioned table has one partition
-- key: a time range on event_time, or a list on the named column. Slices never overlap.
--
-- bridge.node_slices is the catalog for readers (the steps, the doctor, the benchmark): one row
-- per node, with its server, its slice in words, and the relations that read it.

create table if not exists bridge.nodes (
  name text primary key
    constraint node_name_shape check (name ~ '^[a-z][a-z0-9_]{0,39}$'),
  server name not null unique,
  -- A time slice: [lower, upper) of event_time, either end open (unbounded).
  time_range tstzrange,
  -- A list slice: the rows whose list_column is one of list_values.
  list_column name,
  list_values text[],
  constraint one_kind_of_slice check (
    (time_range is null or (list_column is null and list_values is null))
    and (list_column is null) = (list_values is null)),
  constraint only_the_default_is_unsliced check (
    (name = 'default') = (time_range is null and list_column is null))
);

revoke all on bridge.nodes from public, anon, authenticated, service_role;
grant select on bridge.nodes to service_role;

insert into bridge.nodes (name, server) values ('default', 'events_ts')
on conflict (name) do nothing;

-- postgres_fdw scans a node asynchronously, while the others are scanned, only when its server
-- allows it; the nodes bridge.attach_node adds get the same option.
alter server events_ts options (add async_capable 'true');

-- The slice of a node in words, e.g. `event_time in [2026-10-01 00:00:00+00, infinity)` or
-- `location_key in (loc-001, loc-002)`; for the default node, `every row no other node holds`.
create or replace function bridge.slice_in_words(n bridge.nodes)
returns text
language sql
stable
set search_path = ''
as $$
  select case
    when n.time_range is not null then format('event_time in [%s, %s)',
      coalesce(lower(n.time_range)::text, '-infinity'),
      coalesce(upper(n.time_range)::text, 'infinity'))
    when n.list_column is not null then format('%s in (%s)', n.list_column,
      array_to_string(n.list_values, ', '))
    else 'every row no other node holds'
  end
$$;

revoke all on function bridge.slice_in_words(bridge.nodes) from public, anon, authenticated;
grant execute on function bridge.slice_in_words(bridge.nodes) to service_role;

-- The catalog for readers. events, events_in_scope and activity_log name the relation that reads
-- each table on that node: with the default node alone, bridge.events, bridge.events_in_scope
-- and bridge.activity_log themselves; with several, the node's partition (bridge.<table>_at_<node>)
-- and its scope view. A node has no activity_log when its slice's column is one activity_log
-- lacks (20261127000200_node_layout.sql).
create or replace view bridge.node_slices as
  select n.name, n.server, bridge.slice_in_words(n) as slice,
         coalesce(to_regclass(format('bridge.%I', 'events_at_' || n.name)),
                  case when n.name = 'default' then to_regclass('bridge.events') end) as events,
         coalesce(to_regclass(format('bridge.%I', 'events_in_scope_at_' || n.name)),
                  case when n.name = 'default' then to_regclass('bridge.events_in_scope') end)
           as events_in_scope,
         coalesce(to_regclass(format('bridge.%I', 'activity_log_at_' || n.name)),
                  case when n.name = 'default'
                       then to_regclass('bridge.activity_log') end) as activity_log
    from bridge.nodes n;

revoke all on bridge.node_slices from public, anon, authenticated, service_role;
grant select on bridge.node_slices to service_role;
