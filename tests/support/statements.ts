/**
 * The statement counter: how many statements reached the Supabase node for function calls, and
 * how many the link role ran on a Timescale node, from pg_stat_statements on each. A test reads
 * it before and after what it does; a test that expects no change shows the counter moving for
 * a request that does reach the database.
 */
import { connect, type Sql } from "./fixture.ts";

/**
 * Statements that call a bridge RPC or take on a caller's JWT claims (every function request's
 * first statement), run on the Supabase node.
 */
export async function supabaseStatementCount(): Promise<number> {
  const sql = connect("supabase");
  try {
    const [{ calls }] = await sql`
      select coalesce(sum(calls), 0)::int as calls from extensions.pg_stat_statements
       where query ~* ${"search_events|mission_activity|event_histogram|bridge_health|request\\.jwt\\.claims"}`;
    return calls;
  } finally {
    await sql.end();
  }
}

/** Statements the link role ran on the Timescale node `node`, those whose text holds `text`. */
export async function linkStatementCount(node: Sql, text = ""): Promise<number> {
  const [{ calls }] = await node`
    select coalesce(sum(s.calls), 0)::int as calls
      from pg_stat_statements s join pg_roles r on r.oid = s.userid
     where r.rolname = 'bridge_reader' and strpos(s.query, ${text}) > 0`;
  return calls;
}

/** Both counts, the node's on the stack's first Timescale node. */
export async function statementCounts(): Promise<{ supabase: number; node: number }> {
  const node = connect("timescale");
  try {
    return { supabase: await supabaseStatementCount(), node: await linkStatementCount(node) };
  } finally {
    await node.end();
  }
}
