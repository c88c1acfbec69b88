/**
 * Bad input, generated: fast-check sends 500 malformed requests (tests/support/bad_requests.ts)
 * to each function, over HTTP as an authorized caller (the service role's secret key), so only
 * the input is wrong. Every answer must be a 4xx in the error shape, and pg_stat_statements on
 * both nodes must show that none reached SQL, while a valid request sent afterwards moves both
 * counts. On failure fast-check prints the shrunk counterexample.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { errorBody } from "../../functions/_shared/errors.ts";
import {
  badHealthRequests,
  type BadRequest,
  badRequests,
  json,
  valid,
} from "../support/bad_requests.ts";
import { dbTest, env } from "../support/fixture.ts";
import { secretKey } from "../support/functions.ts";
import { statementCounts } from "../support/statements.ts";

const RUNS_PER_FUNCTION = 500;

async function send(request: BadRequest) {
  const headers: Record<string, string> = { apikey: secretKey() };
  if (request.contentType !== undefined) headers["Content-Type"] = request.contentType;
  const response = await fetch(`${env("SUPABASE_URL")}/functions/v1${request.path}`, {
    method: request.method,
    headers,
    body: request.body,
  });
  return { status: response.status, text: await response.text() };
}

/** Asserts one answer is a 4xx whose body is the error shape with the code its status implies. */
function assertClientError(request: BadRequest, answer: { status: number; text: string }) {
  const where = `${request.what}: ${answer.status} ${answer.text.slice(0, 300)}`;
  assert.ok(answer.status >= 400 && answer.status < 500, where);
  const parsed = errorBody.safeParse(JSON.parse(answer.text));
  assert.ok(parsed.success, `not the error shape: ${where}`);
}

for (const name of [...Object.keys(valid), "bridge-health"]) {
  dbTest(
    `${RUNS_PER_FUNCTION} generated malformed requests to ${name}: each a 4xx, none reaches SQL`,
    async () => {
      const before = await statementCounts();
      await fc.assert(
        fc.asyncProperty(
          name === "bridge-health" ? badHealthRequests : badRequests(name),
          async (request) => assertClientError(request, await send(request)),
        ),
        { numRuns: RUNS_PER_FUNCTION },
      );
      assert.deepEqual(await statementCounts(), before, "a malformed request reached SQL");

      // The counter moves for a request that does reach SQL: the same function, valid input.
      const good = name === "bridge-health"
        ? await send({ what: "valid", method: "GET", path: "/bridge-health" })
        : await send({
          what: "valid",
          method: "POST",
          path: `/${name}`,
          contentType: "application/json",
          body: json(valid[name]),
        });
      assert.equal(good.status, 200, `the valid request: ${good.text.slice(0, 300)}`);
      const after = await statementCounts();
      assert.ok(after.supabase > before.supabase, "a valid request moves the Supabase count");
      assert.ok(after.node > before.node, "a valid request moves the node's count");
    },
  );
}
