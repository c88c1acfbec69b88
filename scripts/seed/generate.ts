/**
 * Deterministic demo rows: missions (Supabase), events and activity_log (Timescale), each row
 * its columns' values as COPY text. Pure: no I/O, no clock, no Math.random, so a (seed, until,
 * counts) triple always yields the same rows, and tests can rebuild any value.
 */
import { mulberry32 } from "./random.ts";

/** A row of a table: each column's value as text, keyed by the column's name. */
export type Row = Record<string, string>;

/** What every generator shares: the seed, and the window's end (exclusive, ms since the epoch). */
type SeedOptions = { seed: number; until: number };

export const HOUR_MS = 3600 * 1000;

/** The demo data spans this long, ending at `until`. */
export const SPAN_MS = 30 * 24 * HOUR_MS;

/** Embedding width, as declared by public.events.event_embedding. */
export const EMBEDDING_DIMS = 768;

/** How many Supabase users own the seeded missions (see {@link seedUserId}). */
export const SEED_USER_COUNT = 20;

/** The first mission id: missions are 10001..10000+N, so 12345 exists once N >= 2345. */
export const FIRST_MISSION_ID = 10001;

/** The event type that makes up about 5% of events: a selective filter for filtered search. */
export const FIVE_PERCENT_EVENT_TYPE = "purchase";

/** How many sites (location keys) events happen at. */
export const LOCATION_COUNT = 100;

const pad = (n: number, width: number) => String(n).padStart(width, "0");
export const iso = (ms: number) => new Date(ms).toISOString();

/** The Supabase user id of seeded user i (1..20): fixed, so tests can mint a JWT for it. */
export function seedUserId(i: number): string {
  if (!Number.isInteger(i) || i < 1 || i > SEED_USER_COUNT) {
    throw new Error(`seed users are 1..${SEED_USER_COUNT}, got ${i}`);
  }
  return `00000000-0000-4000-8000-${pad(i, 12)}`;
}

/** The location key of site n (1..LOCATION_COUNT), e.g. "loc-007". */
export function locationKey(n: number): string {
  return "loc-" + pad(n, 3);
}

// Each table gets its own stream (seed mixed with a tag) so that changing one table's count
// does not reshuffle the others.
function rng(seed: number, tag: number): () => number {
  return mulberry32(Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(tag, 0xc2b2ae35));
}

// Integer hash (splitmix32 finaliser) for stable per-entity attributes, independent of the seed:
// user 17's token and home device are the same whatever the run.
function hash32(n: number): number {
  let z = (n + 0x9e3779b9) >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
  z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
  return (z ^ (z >>> 15)) >>> 0;
}

// Box–Muller: two uniforms give two independent standard normals; the second is kept for the
// next call, since 100k embeddings need ~90M normals and this is the generator's hot loop.
function normals(random: () => number): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const z = spare;
      spare = undefined;
      return z;
    }
    const r = Math.sqrt(-2 * Math.log(1 - random())), angle = 2 * Math.PI * random();
    spare = r * Math.sin(angle);
    return r * Math.cos(angle);
  };
}

/** Picks a key of `weights` with a chance in proportion to its weight. */
function weighted<K extends string>(weights: Record<K, number>): (random: () => number) => K {
  const choices = Object.entries(weights) as [K, number][];
  const total = choices.reduce((sum, [, weight]) => sum + weight, 0);
  return (random) => {
    let x = random() * total;
    for (const [choice, weight] of choices) {
      if ((x -= weight) < 0) return choice;
    }
    return choices[choices.length - 1][0];
  };
}

/** Time `i` of `count` in order over the window: one random moment in each of `count` slots. */
function slotTime(i: number, count: number, random: () => number, until: number): number {
  return until - SPAN_MS + Math.floor(((i + random()) / count) * SPAN_MS);
}

const OUTCOMES = weighted({ success: 62, failure: 18, aborted: 8, in_progress: 12 });

/** Rows of public.missions 10001..10000+count, created in id order over the window. */
export function missions(count: number, { seed, until }: SeedOptions): Row[] {
  const random = rng(seed, 1);
  return Array.from({ length: count }, (_, i) => {
    const createdAt = slotTime(i, count, random, until);
    // A mission started in the last 12 hours is most likely still running.
    const recent = until - createdAt < 12 * HOUR_MS && random() < 0.7;
    return {
      id: String(FIRST_MISSION_ID + i),
      outcome: recent ? "in_progress" : OUTCOMES(random),
      owner: seedUserId(1 + Math.floor(random() * SEED_USER_COUNT)),
      created_at: iso(createdAt),
    };
  });
}

// Marginal weights (percent); only purchase is near 5%, so a "5% filter" is unambiguous.
const EVENT_TYPES = {
  page_view: 31,
  click: 20,
  search: 12,
  login: 8,
  logout: 7,
  [FIVE_PERCENT_EVENT_TYPE]: 5,
  comment: 3.5,
  share: 3,
  upload: 3,
  error: 3,
  signup: 2.5,
  payment_failed: 2,
};
const TYPE_NAMES = Object.keys(EVENT_TYPES);
const CLUSTERS = 32, SUBSPACE = 16, USERS = 2000, AGENTS = 200, DEVICES = 1000;
const SOURCES = weighted({ web: 50, ios: 25, android: 20, api: 5 });
const FIRST_NAMES = "Ada Ben Chloe Dmitri Elif Farah Goran Hana Ivo Jun".split(" ");
const LAST_NAMES = "Novak Okafor Park Quist Rossi Sato Toure Umar Vega".split(" ");
const NETWORKS = ["192.0.2", "198.51.100", "203.0.113"];
const USER_AGENTS = [
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/130.0 Safari/537.36",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
  "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 Chrome/130.0 Mobile Safari/537.36",
  "okhttp/4.12.0",
];

/**
 * `count` rows of public.events in time order. Each embedding is one of 32 random unit centres,
 * plus a spread within a 16-d subspace of its own cluster (norm ~0.6), plus isotropic noise (norm
 * 0.2..0.4, 3% outliers at 1.5), normalised. The low intrinsic dimension gives real
 * neighbourhoods, as text embeddings have: nearest neighbours come from the same cluster at
 * distances that vary, instead of the near-ties of pure 768-d noise. Each event type owns a few
 * clusters and draws from them 80% of the time, so similar events share a type.
 */
export function* events(count: number, { seed, until }: SeedOptions): Generator<Row> {
  const random = rng(seed, 2), gaussian = normals(random);
  const randomUnit = () => unit(Float64Array.from({ length: EMBEDDING_DIMS }, gaussian));
  const clusters = Array.from({ length: CLUSTERS }, () => ({
    centre: randomUnit(),
    // Random directions in 768-d are near-orthogonal, which is all a basis needs here.
    basis: Array.from({ length: SUBSPACE }, randomUnit),
  }));
  const eventType = weighted(EVENT_TYPES);
  const spread = 0.6 / Math.sqrt(SUBSPACE), sigmaUnit = 1 / Math.sqrt(EMBEDDING_DIMS);
  for (let i = 0; i < count; i++) {
    const type = eventType(random);
    // Type k owns clusters k, k+12, k+24 (those below 32).
    const typeIndex = TYPE_NAMES.indexOf(type);
    const owned = Math.floor((CLUSTERS - 1 - typeIndex) / TYPE_NAMES.length) + 1;
    const { centre, basis } = clusters[
      random() < 0.8
        ? typeIndex + TYPE_NAMES.length * Math.floor(random() * owned)
        : Math.floor(random() * CLUSTERS)
    ];
    const embedding = Float64Array.from(centre);
    for (const direction of basis) {
      const z = spread * gaussian();
      for (let d = 0; d < EMBEDDING_DIMS; d++) embedding[d] += z * direction[d];
    }
    const noise = (random() < 0.03 ? 1.5 : 0.2 + 0.2 * random()) * sigmaUnit;
    for (let d = 0; d < EMBEDDING_DIMS; d++) embedding[d] += noise * gaussian();
    // Zipf-like users: a few heavy users, a long tail.
    const user = Math.floor(USERS * random() ** 2);
    const userHash = hash32(user);
    const row = {
      event_time: iso(slotTime(i, count, random, until)),
      user_token: "u_" + userHash.toString(16).padStart(8, "0") +
        (hash32(userHash) >>> 16).toString(16).padStart(4, "0"),
      agent_key: "agent-" + pad(1 + Math.floor(random() * AGENTS), 3),
      // Mostly the user's own device, sometimes another one.
      device_key: "dev-" + pad(1 + (random() < 0.85 ? userHash : hash32(i)) % DEVICES, 4),
      location_key: locationKey(1 + Math.floor(LOCATION_COUNT * random() ** 1.5)),
      event_type: type,
    };
    // The processed, pseudonymous payload: what the bridge may read.
    const payload = {
      duration_ms: Math.round(20 + 2000 * random() ** 3),
      source: SOURCES(random),
      score: Math.round(random() * 1000) / 1000,
    };
    // The payload as the client sent it, with the contact details and network data a real form
    // or SDK submits, fake but realistic: an e-mail address under example.com (RFC 2606) with the
    // user number, so each user's is distinct, a phone number in the 555-01xx range set aside for
    // fiction, an address from the documentation networks (RFC 5737). It stays on the node.
    const first = FIRST_NAMES[userHash % FIRST_NAMES.length];
    const last = LAST_NAMES[(userHash >>> 8) % LAST_NAMES.length];
    const contact = {
      name: `${first} ${last}`,
      email: `${first}.${last}${user}@example.com`.toLowerCase(),
      phone: `+1-202-555-01${pad(user % 100, 2)}`,
    };
    const client = {
      ip: `${NETWORKS[hash32(i) % 3]}.${1 + (hash32(i) >>> 8) % 254}`,
      user_agent: USER_AGENTS[(userHash >>> 16) % USER_AGENTS.length],
    };
    yield {
      ...row,
      data_payload_raw: JSON.stringify({ ...payload, contact, client }),
      data_payload_proc: JSON.stringify(payload),
      event_embedding: vectorLiteral(unit(embedding)),
    };
  }
}

/** Scales `v` to unit length (cosine search), in place: plain loops, as this runs per event. */
function unit(v: Float64Array): Float64Array {
  let sum = 0;
  for (let d = 0; d < v.length; d++) sum += v[d] * v[d];
  const norm = Math.sqrt(sum);
  for (let d = 0; d < v.length; d++) v[d] /= norm;
  return v;
}

// "00000".."99999", built once (~10 ms).
const DECIMALS = Array.from({ length: 1e5 }, (_, i) => pad(i, 5));

/**
 * A pgvector literal with 5 fixed decimals: unit-vector components are ~0.04, so that keeps ~4
 * significant digits (cosine error well below 1e-4) at a third of the text of full precision.
 * Digits come from a table of 5-digit strings, twice as fast as Number#toString on the ~77M
 * components of 100k embeddings.
 */
function vectorLiteral(values: Float64Array): string {
  let text = "[";
  for (let i = 0; i < values.length; i++) {
    const q = Math.round(values[i] * 1e5), magnitude = Math.abs(q);
    if (i) text += ",";
    text += magnitude < 1e5 ? (q < 0 ? "-0." : "0.") + DECIMALS[magnitude] : String(q / 1e5);
  }
  return text + "]";
}

// Agent ids as a fleet registry that has been issuing ids for years hands them out: past the
// 32-bit range, so anything that narrows activity_log.agent_id to int4 or text fails visibly,
// and below 2^53, so JSON numbers carry them exactly.
const FIRST_AGENT_ID = 4_294_967_311, AGENT_ID_STRIDE = 1_048_573;
const ACTIONS = weighted({
  navigate: 30,
  scan: 20,
  report: 15,
  dispatch: 8,
  pickup: 8,
  dropoff: 8,
  retry: 6,
  error: 5,
});

/**
 * `count` rows of public.activity_log for the given missions. Mission choice is skewed (rank =
 * N·u², so the busiest mission gets ~1/√N of all rows and the quietest a handful); ranks are
 * scattered over the missions by an affine permutation, so busy missions are spread over the 30
 * days, and the busiest is mission 12345 whenever it exists (the README's example). Each row
 * falls within a few hours after its mission's creation, never at or past `until`.
 */
export function* activity(
  count: number,
  missionRows: readonly Row[],
  { seed, until }: SeedOptions,
): Generator<Row> {
  const random = rng(seed, 3);
  const n = missionRows.length;
  // rank -> (stride·rank + shift) mod n is a bijection when gcd(stride, n) = 1.
  let stride = 7919 % n || 1;
  while (gcd(stride, n) !== 1) stride++;
  for (let i = 0; i < count; i++) {
    const rank = Math.floor(n * random() ** 2);
    const mission = missionRows[(stride * rank + 12345 - FIRST_MISSION_ID) % n];
    const createdAt = Date.parse(mission.created_at);
    // Exponential offset, mean 4 h; redrawn uniformly when it would run past the window.
    let offset = Math.floor(-4 * HOUR_MS * Math.log(1 - random()));
    if (offset >= until - createdAt) offset = Math.floor(random() * (until - createdAt));
    const action = ACTIONS(random);
    const details: Record<string, number | string> = {
      battery_pct: Math.round(15 + 85 * random()),
      latency_ms: Math.round(5 + 400 * random() ** 2),
    };
    if (action === "error" || action === "retry") {
      details.code = ["E_TIMEOUT", "E_BLOCKED", "E_SENSOR", "E_LINK"][Math.floor(random() * 4)];
    }
    yield {
      event_time: iso(createdAt + offset),
      agent_id: String(FIRST_AGENT_ID + (hash32(Number(mission.id)) % AGENTS) * AGENT_ID_STRIDE),
      mission_id: mission.id,
      action,
      details: JSON.stringify(details),
    };
  }
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
