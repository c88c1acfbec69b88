/**
 * Keyset pages of newest-first rows that never lose a row. Rows sharing one timestamp come in a
 * fixed order, and each carries its place among them (public.mission_activity's tie_position),
 * so a cursor names the exact row a page ended on: its time and that place. A timestamp alone
 * could not: with `event_time < before`, a page ending among rows of one instant would make
 * the next page skip the rest of them.
 *
 * No Deno APIs here: schemas.ts, and through it the app client, imports this module.
 */

/** Where the next page starts: after row `position` of the rows at `time`. */
export interface Cursor {
  /** An ISO 8601 date-time, as public.mission_activity's event_time. */
  time: string;
  /** How many rows at `time` were read already; undefined skips all of them. */
  position?: number;
}

/**
 * A cursor as text, `<time>#<position>`: what a page hands out as `nextCursor` and takes back
 * as `before`.
 *
 * @example
 * formatCursor({ time: "2026-10-01T12:00:00.5Z", position: 3 }); // "2026-10-01T12:00:00.5Z#3"
 */
function formatCursor(cursor: Cursor): string {
  return cursor.position === undefined ? cursor.time : `${cursor.time}#${cursor.position}`;
}

/**
 * Reads a cursor: `<time>#<position>` from {@link formatCursor}, or a bare time, which skips
 * every row at that time. Undefined when the text is neither; the time itself is not checked.
 *
 * @example
 * parseCursor("2026-10-01T12:00:00.5Z#3"); // { time: "2026-10-01T12:00:00.5Z", position: 3 }
 * parseCursor("2026-10-01T12:00:00Z"); // { time: "2026-10-01T12:00:00Z" }
 */
export function parseCursor(text: string): Cursor | undefined {
  const match = text.match(/^([^#]+)(?:#(\d{1,9}))?$/);
  if (!match) return undefined;
  return match[2] === undefined
    ? { time: match[1] }
    : { time: match[1], position: Number(match[2]) };
}

/**
 * The `nextCursor` of a page of public.mission_activity rows asked for with `limit`: null for a
 * short page, which is the last; else the cursor of its last row.
 *
 * @example
 * nextCursor([{ event_time: "2026-10-01T12:00:00Z", tie_position: 2 }], 1);
 * // → "2026-10-01T12:00:00Z#2"
 */
export function nextCursor(
  rows: { event_time: string; tie_position: number }[],
  limit: number,
): string | null {
  if (rows.length < limit) return null;
  const last = rows[rows.length - 1];
  return formatCursor({ time: last.event_time, position: last.tie_position });
}
