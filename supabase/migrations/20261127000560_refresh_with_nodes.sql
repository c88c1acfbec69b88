-- bridge.refresh_foreign_tables() with several nodes. The refresh (20261126000550) imports the
-- default node's export views and replaces the bridge's foreign tables on server events_ts; with
-- other nodes attached those are partitions, which it cannot replace. So the refresh now lays the
-- tables out for the default node alone, refreshes them as before, and lays them out again from
-- the catalog: every node's partition then has the refreshed columns (nodes must export the same
-- views). All in one transaction, with the catalog locked against readers, as attach_node does.
-- With the default node alone it is the refresh it was.

alter function bridge.refresh_foreign_tables() rename to refresh_default_node_tables;
revoke all on function bridge.refresh_default_node_tables() from public, anon, authenticated, service_role;

create function bridge.refresh_foreign_tables()
returns table (foreign_table text, change text)
language plpgsql
volatile
security definer
set search_path = ''
set lock_timeout = '5s'
as $$
begin
  lock table bridge.nodes in access exclusive mode;
  perform bridge.lay_out_nodes(with_nodes => false);
  return query select * from bridge.refresh_default_node_tables();
  perform bridge.lay_out_nodes();
end;
$$;

revoke all on function bridge.refresh_foreign_tables() from public, anon, authenticated;
grant execute on function bridge.refresh_foreign_tables() to service_role;
