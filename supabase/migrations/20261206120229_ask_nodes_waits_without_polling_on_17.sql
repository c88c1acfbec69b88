-- On PostgreSQL 17 bridge.ask_nodes waits for the nodes' answers in dblink_get_result, which
-- statement_timeout and a cancel interrupt there; the dblink_is_busy poll with a 1 ms sleep stays
-- for 15, whose dblink waits without looking at interrupts.

SET local check_function_bodies = off;

CREATE OR REPLACE FUNCTION bridge.ask_nodes (
  servers    name[],
  statements text[]
)
  RETURNS TABLE (
    server name,
    answer jsonb
  )
  LANGUAGE plpgsql
  SET search_path TO ''
  AS $function$
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
$function$;
