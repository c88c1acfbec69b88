-- On PostgreSQL 17 and later, the histogram's nodes group and count again: only counts cross.
--
-- bridge.event_counts sums the nodes' counts grouped by event_type, then bucket, an order no
-- node's branch gives, so that the planner cannot group the merged branches here and must take
-- each node's pushed-down GROUP BY. PostgreSQL 17 reorders GROUP BY keys to match its input
-- (enable_group_by_reordering, on by default): it then merges branches sorted on the nodes and
-- counts their rows here, so every event in the range crosses the link. With the reordering off
-- for this function, 17 plans as 15 does: one asynchronous grouped scan per node
-- (docs/design-pg17.md, "Plans: what 17 does differently"). PostgreSQL 15 has no such setting
-- and needs none. A project upgraded from 15 to 17 in place runs this file's statement again.

do $$
begin
  if pg_catalog.current_setting('server_version_num')::int >= 170000 then
    alter function bridge.event_counts(interval, timestamptz, timestamptz, text[], boolean)
      set enable_group_by_reordering = off;
  end if;
end;
$$;
