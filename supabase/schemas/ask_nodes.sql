-- One round trip per node: a step asks the nodes through dblink on connections kept for the
-- session, every node at once, instead of through postgres_fdw's cursor, which costs five or more
-- round trips per node and call (START TRANSACTION, DECLARE, FETCH, CLOSE, COMMIT; docs/design.md
-- § round trips per call). The activity step (mission_activity.sql) asks its nodes this way.
--
-- bridge.ask_nodes sends each node one statement and returns each node's answer: the statement
-- answers one row, a jsonb array of its rows, so one reader serves any step. It and its helpers
-- below are the only code that calls dblink, and only the bridge's owner may call them: they run
-- whatever statement they are given, so a step that uses them is SECURITY DEFINER and composes
-- every statement itself, every caller value a quoted literal with an explicit cast (format %L).
--
-- Connections are named after the node's foreign server and opened by that name, so the link
-- role, its password and connect_timeout come from the server and the user mapping, never from
-- SQL text. They are kept for the session and reused only when healthy: a connection left busy
-- (a call that failed half-way) or seen closed by the node is replaced before the statement is
-- sent, and a call whose kept connection the node closed unseen (a restart between two calls) is
-- sent once more on new connections, so it does not fail.
--
-- The wait for the answers: PostgreSQL 17's dblink waits for a result as any wait in the server
-- does, so statement_timeout and a cancel end it, and the answers are read as they come. 15's
-- dblink waits without looking at interrupts, so there the wait polls dblink_is_busy with a
-- short sleep, which costs milliseconds per call (docs/operations.md, section 11). When the call fails or is cancelled,
-- every node still working is sent a cancel and every connection of the call is closed: nothing
-- half-read is ever reused.
--
-- The foreign tables stay, for users' own SQL and for the events steps, with their pushdown: those steps read the caller's scope through the policies of public.event_scopes, which
-- only code running as the caller can evaluate, and dblink must stay behind a definer step.

-- The node's relation behind a foreign table, as the node names it (e.g. export.activity_log).
create or replace function bridge.remote_relation(foreign_table regclass)
returns text
language sql
stable
set search_path = ''
as $$
  select format('%I.%I',
    (select o.option_value from pg_catalog.pg_options_to_table(t.ftoptions) o
      where o.option_name = 'schema_name'),
    (select o.option_value from pg_catalog.pg_options_to_table(t.ftoptions) o
      where o.option_name = 'table_name'))
    from pg_catalog.pg_foreign_table t
   where t.ftrelid = foreign_table
$$;

revoke all on function bridge.remote_relation(regclass) from public, anon, authenticated, service_role;

-- Opens the kept connection to `server`, by the server's name and this role's user mapping. Its
-- statements see only pg_catalog unless they name a schema, as postgres_fdw's do. On the node,
-- pg_stat_activity names the session `fdw-bridge <pid>`, the pid of the Supabase backend that
-- holds it, so each link session can be traced to its holder.
create or replace function bridge.connect_node(server name)
returns void
language plpgsql
set search_path = ''
as $$
begin
  perform extensions.dblink_connect(server, server);
  perform extensions.dblink_exec(server, format(
    'set search_path = pg_catalog; set application_name = %L',
    'fdw-bridge ' || pg_catalog.pg_backend_pid()));
exception when others then
  if server = any (coalesce(extensions.dblink_get_connections(), '{}')) then
    perform extensions.dblink_disconnect(server);
  end if;
  raise exception using errcode = '08001',
    message = format('could not connect to the node of server "%s": %s', server, sqlerrm);
end;
$$;

revoke all on function bridge.connect_node(name) from public, anon, authenticated, service_role;

-- Sends `statement` to `server` on its kept connection, opening or replacing it when needed;
-- whether it went on a connection kept from an earlier call.
create or replace function bridge.send_to_node(server name, statement text)
returns boolean
language plpgsql
set search_path = ''
-- dblink_send_query reports a send on a closed connection as a notice, then returns 0.
set client_min_messages = warning
as $$
begin
  if not server = any (coalesce(extensions.dblink_get_connections(), '{}')) then
    perform bridge.connect_node(server);
  elsif extensions.dblink_is_busy(server) = 1 then
    -- Still answering a statement nobody will read: never reused.
    perform extensions.dblink_cancel_query(server);
    perform extensions.dblink_disconnect(server);
    perform bridge.connect_node(server);
  else
    -- dblink_is_busy above has read what the node sent since the last call: when the node has
    -- closed the connection, the send fails without a round trip.
    if extensions.dblink_send_query(server, statement) = 1 then
      return true;
    end if;
    perform extensions.dblink_disconnect(server);
    perform bridge.connect_node(server);
  end if;
  if extensions.dblink_send_query(server, statement) <> 1 then
    perform extensions.dblink_disconnect(server);
    raise exception using errcode = '08006',
      message = format('could not send the statement to the node of server "%s"', server);
  end if;
  return false;
end;
$$;

revoke all on function bridge.send_to_node(name, text) from public, anon, authenticated, service_role;

-- Closes the connections of `servers`, first cancelling what a node still runs for them.
create or replace function bridge.drop_node_connections(servers name[])
returns void
language plpgsql
set search_path = ''
as $$
declare
  server name;
begin
  foreach server in array servers loop
    continue when not server = any (coalesce(extensions.dblink_get_connections(), '{}'));
    begin
      if extensions.dblink_is_busy(server) = 1 then
        perform extensions.dblink_cancel_query(server);
      end if;
    exception when others then
      null;  -- a broken connection has nothing left to cancel: it is closed below all the same
    end;
    perform extensions.dblink_disconnect(server);
  end loop;
end;
$$;

revoke all on function bridge.drop_node_connections(name[]) from public, anon, authenticated, service_role;

-- Sends statements[i] to servers[i], all before waiting for any, and returns each node's answer:
-- the one jsonb value its statement selects. A node's error is raised with its SQLSTATE and the
-- server's name in the message (functions/_shared/db.ts names the node of a 503 from it).
--
-- A kept connection can be closed by its node just before or while the statement is sent (the
-- node restarted, or ended the session): the send succeeds and the answer is a connection
-- failure, or the node's message that it ended the session. Then the call is made once more on
-- new connections; a failure on new connections is the node's.
create or replace function bridge.ask_nodes(servers name[], statements text[])
returns table (server name, answer jsonb)
language plpgsql
volatile
set search_path = ''
as $$
declare
  answers jsonb[];
  any_kept boolean;
  retried boolean := false;
  reading name;
  failed_state text;
  failed_message text;
begin
  if cardinality(servers) is distinct from cardinality(statements) then
    raise exception using errcode = '22023',
      message = 'ask_nodes needs one statement per server';
  end if;
  loop
    begin
      any_kept := false;
      reading := null;
      for i in 1 .. cardinality(servers) loop
        any_kept := bridge.send_to_node(servers[i], statements[i]) or any_kept;
      end loop;
      -- On 15, a wait that statement_timeout and a cancel can end: the sleep.
      if pg_catalog.current_setting('server_version_num')::int < 170000 then
        while exists (select from unnest(servers) s where extensions.dblink_is_busy(s) = 1) loop
          perform pg_catalog.pg_sleep(0.001);
        end loop;
      end if;
      for i in 1 .. cardinality(servers) loop
        reading := servers[i];
        select r.answer into answer from extensions.dblink_get_result(servers[i]) as r(answer jsonb);
        answers[i] := answer;
        -- The end of the node's results, which frees the connection for the next statement.
        perform from extensions.dblink_get_result(servers[i]) as r(answer jsonb);
      end loop;
      return query select s.server, s.answer from unnest(servers, answers) as s(server, answer);
      return;
    exception when query_canceled or others then
      get stacked diagnostics failed_state = returned_sqlstate, failed_message = message_text;
      perform bridge.drop_node_connections(servers);
      if reading is null or failed_state = '57014' then
        raise;
      end if;
      -- Class 08, or the node ending the session (57P01..57P03): the connection is gone.
      if not (any_kept and not retried
              and (failed_state like '08%' or failed_state in ('57P01', '57P02', '57P03'))) then
        raise exception using errcode = failed_state,
          message = format('the node of server "%s" failed: %s', reading, failed_message);
      end if;
      retried := true;
    end;
  end loop;
end;
$$;

revoke all on function bridge.ask_nodes(name[], text[]) from public, anon, authenticated, service_role;
