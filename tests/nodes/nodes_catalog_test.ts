/**
 * The node catalog's calls: attach_node, detach_node and move_boundary refuse bad input
 * with 22023 and change nothing, and only the owner and service_role may call them.
 */
import assert from "node:assert/strict";
import type postgres from "postgres";
import { asCaller } from "../support/fixture.ts";
import { attach, daysBefore, detachAll, firstPort, nodesTest, supabase } from "../support/nodes.ts";

nodesTest(
  "attach_node and detach_node refuse bad input with 22023 and change nothing",
  async (t) => {
    const catalog = async () =>
      JSON.stringify(await supabase`select * from bridge.node_slices order by name`);
    const before = await catalog();
    const refused = async (call: Promise<unknown>, message: RegExp) =>
      await assert.rejects(call, (error: postgres.PostgresError) => {
        assert.equal(error.code, "22023", error.message);
        assert.match(error.message, message);
        return true;
      });
    const attachWith = (name: string, slice: string) =>
      supabase.unsafe(
        `select bridge.attach_node('${name}', '127.0.0.1', ${firstPort + 1}, 'postgres',
         'bridge_reader', 'x', 'require', ${slice})`,
      );
    await t.step("no slice", () => refused(attachWith("n2", "null"), /needs a slice/));
    await t.step("a bad name", () => refused(attachWith("N-2", "slice_to => now()"), /name must/));
    await t.step(
      "the default's name",
      () => refused(attachWith("default", "slice_to => now()"), /already attached/),
    );
    await t.step("both kinds of slice", () =>
      refused(
        attachWith(
          "n2",
          "slice_to => now(), slice_column => 'location_key', slice_values => '{a}'",
        ),
        /not both/,
      ));
    await t.step("a column events lacks", () =>
      refused(
        attachWith("n2", "slice_column => 'mission_id', slice_values => '{1}'"),
        /text column of bridge.events/,
      ));
    await t.step("an empty range", () =>
      refused(
        attachWith("n2", "slice_from => now(), slice_to => now() - interval '1 day'"),
        /must be before/,
      ));
    await t.step("overlapping and mixed slices", async () => {
      await attach({ name: "cold", node: 2, slice_to: daysBefore(12) });
      try {
        const during = await catalog();
        await refused(
          attachWith("n3", `slice_to => '${daysBefore(20).toISOString()}'`),
          /overlaps the slice of node cold/,
        );
        await refused(
          attachWith("n3", "slice_column => 'location_key', slice_values => '{loc-001}'"),
          /sliced by time/,
        );
        await refused(supabase`select bridge.move_boundary(now(), now())`, /no node's slice/);
        assert.equal(await catalog(), during);
      } finally {
        await detachAll();
      }
    });
    await t.step("detaching an unknown node or the default", async () => {
      await refused(supabase`select bridge.detach_node('nowhere')`, /no node named nowhere/);
      await refused(supabase`select bridge.detach_node('default')`, /cannot be detached/);
    });
    assert.equal(await catalog(), before);
    const [{ relkind }] = await supabase`
    select relkind from pg_class where oid = 'bridge.events'::regclass`;
    assert.equal(relkind, "f", "one node again: bridge.events is the default node's foreign table");
  },
);

nodesTest(
  "attach_node, detach_node and move_boundary are for the owner and service_role",
  async () => {
    for (const role of ["authenticated", "anon"] as const) {
      for (
        const call of [
          "select bridge.attach_node('n2', 'h', 1, 'd', 'u', 'p', slice_to => now())",
          "select bridge.detach_node('n2')",
          "select bridge.move_boundary(now(), now())",
        ]
      ) {
        await assert.rejects(
          asCaller(supabase, { role }, (tx) => tx.unsafe(call)),
          (error: postgres.PostgresError) => error.code === "42501",
          `${role}: ${call}`,
        );
      }
    }
  },
);
