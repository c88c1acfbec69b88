-- Row estimates of the foreign tables come from the nodes themselves.
--
-- postgres_fdw decides from its row estimate of a foreign table whether a LIMIT or a GROUP BY
-- reaches the node (docs/operations.md, section 6). From local statistics that estimate goes
-- stale as a node grows: autovacuum never analyzes a foreign table, and ANALYZE of one reads the
-- whole remote relation across the link, embeddings included (on PostgreSQL 16 and later too,
-- since remote sampling does not reach through the export views). With use_remote_estimate the
-- planner asks the node instead: an EXPLAIN on the node, at plan time, answered from the node's
-- own statistics, which its autovacuum keeps. Nothing is left for an operator to gather, and a
-- node attached or a boundary moved is estimated right from its first call.
--
-- Set on the servers, so every foreign table of a node and every partition of it follows:
-- bridge.attach_node gives a new node's server the default server's options, this one included.

do $$
declare
  node record;
begin
  for node in
    select s.srvname, exists (select from unnest(s.srvoptions) o
                               where o like 'use\_remote\_estimate=%') as present
      from pg_catalog.pg_foreign_server s
     where s.srvname in (select n.server from bridge.nodes n)
  loop
    execute format('alter server %I options (%s use_remote_estimate %L)', node.srvname,
      case when node.present then 'set' else 'add' end, 'true');
  end loop;
end;
$$;

-- The histogram's GROUP BY must reach the node whatever the local statistics say. Its step
-- forbids hashing and sorting here, but the node can sort for it: the planner then weighs a
-- local GroupAggregate over the node's sorted rows, priced from local statistics (200 groups
-- when there are none), against the node's estimate of the grouped statement, which cannot know
-- how many buckets date_bin makes and counts every row a group. With never-analyzed foreign
-- tables the local grouping won. Each local operator priced at 100 times its default makes it
-- the dearer plan; the node's own costs, which it estimates, are not affected.
alter function bridge.event_counts(interval, timestamptz, timestamptz, text[], boolean)
  set cpu_operator_cost = 0.25;
