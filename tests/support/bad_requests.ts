/**
 * Malformed requests for each function, as fast-check arbitraries: wrong types and shapes,
 * out-of-range numbers, NaN and Infinity, huge and deeply nested JSON, invalid UTF-8, wrong
 * content types, unknown fields, and injection strings in every text field (made invalid by a
 * NUL or by length where the field takes free text). Each prints as what is wrong with it.
 */
import fc from "fast-check";
import { embedding } from "./functions.ts";

/** One generated request: what is wrong with it, its content type and its body's bytes. */
export interface BadRequest {
  what: string;
  method: string;
  path: string;
  contentType?: string;
  body?: Uint8Array<ArrayBuffer>;
}

/** A request as fast-check prints a counterexample: what is wrong, then the request itself. */
function printable(request: BadRequest): BadRequest {
  const body = request.body === undefined
    ? ""
    : new TextDecoder().decode(request.body.slice(0, 400)) +
      (request.body.length > 400 ? `… (${request.body.length} bytes)` : "");
  return Object.assign(request, {
    [fc.toStringMethod]: () =>
      `${request.what}: ${request.method} ${request.path} ` +
      `[${request.contentType ?? "no content type"}] ${body}`,
  });
}

const utf8 = (text: string) => new TextEncoder().encode(text);
export const json = (value: unknown) => utf8(JSON.stringify(value));

const window = { from: "2026-10-01T00:00:00Z", to: "2026-10-02T00:00:00Z" };

/** A valid request of each POST function: the base every defect is applied to. */
export const valid: Record<string, Record<string, unknown>> = {
  "events-search": {
    embedding: embedding(2),
    k: 5,
    filters: { eventTypes: ["purchase"], userToken: "u1", ...window },
  },
  "mission-activity": { missionIds: [10001], limit: 10, actions: ["start"], ...window },
  "event-histogram": { bucket: "1 hour", eventTypes: ["purchase"], ...window },
};

/** The fields each function cannot do without. */
const required: Record<string, string[]> = {
  "events-search": ["embedding"],
  "mission-activity": ["missionIds"],
  "event-histogram": ["bucket", "from", "to"],
};

/** Each function's text fields (a path into the body) and whether they take free text. */
const textFields: Record<string, [path: string[], free: boolean][]> = {
  "events-search": [
    [["filters", "eventTypes", "0"], true],
    [["filters", "userToken"], true],
    [["filters", "agentKey"], true],
    [["filters", "deviceKey"], true],
    [["filters", "locationKey"], true],
    [["filters", "from"], false],
    [["filters", "to"], false],
  ],
  "mission-activity": [
    [["actions", "0"], true],
    [["from"], false],
    [["to"], false],
    [["before"], false],
  ],
  "event-histogram": [
    [["bucket"], false],
    [["from"], false],
    [["to"], false],
    [["eventTypes", "0"], true],
  ],
};

/** Whole numbers below `min` or above `max`, and fractions between them. */
const notWholeIn = (min: number, max: number) =>
  fc.oneof(
    fc.integer({ max: min - 1 }),
    fc.integer({ min: max + 1 }),
    fc.double({ min: min + 0.01, max: max - 0.01, noInteger: true }),
  );

/** Each function's numeric fields with values outside their range or not numbers at all. */
const numberFields: Record<string, [string[], fc.Arbitrary<unknown>][]> = {
  "events-search": [
    [
      ["k"],
      notWholeIn(1, 100),
    ],
    [
      ["filters", "maxDistance"],
      fc.oneof(fc.double({ max: -0.0001, noNaN: true }), fc.double({ min: 2.0001, noNaN: true })),
    ],
    [
      ["embedding", "7"],
      fc.oneof(fc.double({ min: 3.5e38, noNaN: true }), fc.double({ max: -3.5e38, noNaN: true })),
    ],
  ],
  "mission-activity": [
    [
      ["limit"],
      notWholeIn(1, 1000),
    ],
    [
      ["missionIds", "0"],
      fc.oneof(
        fc.integer({ max: 0 }),
        fc.constant(2 ** 53),
        fc.double({ min: 1.5, max: 1e6, noInteger: true }),
      ),
    ],
  ],
  "event-histogram": [],
};

const injections = fc.constantFrom(
  "'; drop table public.missions; --",
  "1 or 1=1",
  "' or '1'='1",
  "$$; select pg_sleep(10); $$",
  "1); delete from public.missions where (1=1",
  "\\'; truncate bridge.events; --",
  "${jndi:ldap://x}",
  "<script>alert(1)</script>",
  "2026-10-01T00:00:00Z'; drop table x; --",
  "1 hour'; select 1; --",
);

/** `base` with `value` at `path` (a new object; array indexes as strings). */
function withAt(base: unknown, path: string[], value: unknown): unknown {
  if (path.length === 0) return value;
  const [head, ...rest] = path;
  const copy: Record<string, unknown> | unknown[] = Array.isArray(base)
    ? [...base]
    : { ...(base as Record<string, unknown>) };
  (copy as Record<string, unknown>)[head] = withAt(
    (base as Record<string, unknown>)?.[head] ?? {},
    rest,
    value,
  );
  return copy;
}

const jsonType = (value: unknown) =>
  value === null ? "null" : Array.isArray(value) ? "array" : typeof value;

/** Every kind of malformed request for POST function `name`. */
export function badRequests(name: string): fc.Arbitrary<BadRequest> {
  const base = valid[name];
  const path = `/${name}`;
  const post = (
    what: string,
    body: Uint8Array<ArrayBuffer>,
    contentType = "application/json",
  ): BadRequest => printable({ what, method: "POST", path, contentType, body });
  const fields = Object.keys(base);

  const notAnObject = fc.oneof(
    fc.integer(),
    fc.string(),
    fc.constant(null),
    fc.boolean(),
    fc.array(fc.jsonValue()),
  )
    .map((body) => post(`a body that is ${jsonType(body)}`, json(body)));

  const wrongType = fc.tuple(fc.constantFrom(...fields), fc.jsonValue())
    .filter(([field, value]) => jsonType(value) !== jsonType(base[field]))
    .map(([field, value]) =>
      post(`${field} as ${jsonType(value)}`, json({ ...base, [field]: value }))
    );

  const missingRequired = fc.constantFrom(...required[name]).map((field) => {
    const { [field]: _, ...rest } = base;
    return post(`without ${field}`, json(rest));
  });

  const outOfRange = numberFields[name].length === 0 ? undefined : fc.oneof(
    ...numberFields[name].map(([at, values]) =>
      values.map((value) => post(`${at.join(".")} = ${value}`, json(withAt(base, at, value))))
    ),
  );

  // JSON has no NaN or Infinity: sent as raw text, or as a number too large for a double.
  const nonFinite = fc.tuple(
    fc.constantFrom("NaN", "Infinity", "-Infinity", "1e309", "-1e400"),
    fc.constantFrom(
      ...(name === "events-search"
        ? ["embedding", "k"]
        : name === "mission-activity"
        ? ["missionIds", "limit"]
        : ["from"]),
    ),
  ).map(([literal, field]) => {
    const marker = "\u0001marker\u0001";
    const shaped = field === "embedding" || field === "missionIds"
      ? withAt(base, [field, "0"], marker)
      : withAt(base, [field], marker);
    return post(
      `${field} holding ${literal}`,
      utf8(JSON.stringify(shaped).replace(JSON.stringify(marker), literal)),
    );
  });

  const huge = fc.integer({ min: 1024 * 1024 + 1, max: 3 * 1024 * 1024 }).map((size) =>
    post(`a body of ${size} bytes`, utf8(JSON.stringify({ ...base, padding: "x".repeat(size) })))
  );

  const deep = fc.tuple(
    fc.constantFrom(...fields),
    fc.integer({ min: 64, max: 200_000 }),
    fc.constantFrom("[", '{"a":'),
  )
    .map(([field, depth, open]) => {
      const close = open === "[" ? "]" : "}";
      const nested = open.repeat(depth) + "1" + close.repeat(depth);
      const text = JSON.stringify({ ...base, [field]: "\u0001" }).replace('"\\u0001"', nested);
      return post(`${field} nested ${depth} deep`, utf8(text));
    });

  const invalidUtf8 = fc.tuple(
    fc.constantFrom([0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0x80], [0xe2, 0x82], [
      0xf8,
      0x88,
      0x80,
      0x80,
      0x80,
    ]),
    fc.nat(),
  ).map(([bad, at]) => {
    const bytes = json(base);
    // Inside the text of the body, never in place of its first byte.
    const cut = 1 + (at % (bytes.length - 1));
    const body = new Uint8Array([...bytes.slice(0, cut), ...bad, ...bytes.slice(cut)]);
    return post(`bytes ${bad.map((b) => b.toString(16)).join(" ")} at ${cut}`, body);
  });

  const wrongContentType = fc.constantFrom(
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=x",
    "application/xml",
    "text/json",
    "application/jsonx",
    "",
  ).map((type) => post(`content type "${type}"`, json(base), type));

  const unknownField = fc.tuple(
    fc.string({ minLength: 1 }).filter((key) => !(key in base) && key !== "__proto__"),
    fc.jsonValue(),
  ).map(([key, value]) =>
    post(`unknown field ${JSON.stringify(key)}`, json({ ...base, [key]: value }))
  );

  const injected = fc.tuple(
    fc.constantFrom(...textFields[name]),
    injections,
    fc.constantFrom("nul", "long"),
  )
    .map(([[at, free], injection, defect]) => {
      const text = !free
        ? injection
        : defect === "nul"
        ? `${injection}\0`
        : injection.padEnd(201, "-");
      return post(
        `${at.join(".")} = ${JSON.stringify(text).slice(0, 60)}`,
        json(withAt(base, at, text)),
      );
    });

  const injectedAsNumber = numberFields[name].length === 0
    ? undefined
    : fc.tuple(fc.constantFrom(...numberFields[name].map(([at]) => at)), injections)
      .map(([at, injection]) =>
        post(`${at.join(".")} = ${JSON.stringify(injection)}`, json(withAt(base, at, injection)))
      );

  return fc.oneof(
    ...[
      notAnObject,
      wrongType,
      missingRequired,
      outOfRange,
      nonFinite,
      huge,
      deep,
      invalidUtf8,
      wrongContentType,
      unknownField,
      injected,
      injectedAsNumber,
    ].filter((arbitrary): arbitrary is fc.Arbitrary<BadRequest> => arbitrary !== undefined)
      .map((arbitrary) => ({ arbitrary, weight: arbitrary === huge ? 1 : 4 })),
  );
}

/** bridge-health answers GET only, at its name only. */
export const badHealthRequests: fc.Arbitrary<BadRequest> = fc.oneof(
  fc.tuple(fc.constantFrom("POST", "PUT", "PATCH", "DELETE"), fc.jsonValue()).map((
    [method, body],
  ) =>
    printable({
      what: `${method} with a body`,
      method,
      path: "/bridge-health",
      contentType: "application/json",
      body: json(body),
    })
  ),
  fc.webSegment().filter((segment) => !["", ".", ".."].includes(segment)).map((segment) =>
    printable({
      what: `GET /bridge-health/${segment}`,
      method: "GET",
      path: `/bridge-health/${segment}`,
    })
  ),
);
