/**
 * Keyset pages of newest-first rows. The cursor is exclusive (the next page asks for rows with
 * `event_time < before`), so a page that ended in the middle of rows sharing one timestamp would
 * make the next page skip the rest of them.
 */

/** A page of rows and the cursor for the next one; null when this page is the last. */
export interface Page<T> {
  rows: T[];
  nextCursor: string | null;
}

/**
 * Shapes what the database returned for a page of `limit` rows. A short page is the last. A full
 * page ends before its oldest timestamp, whose rows then open the next page whole; a full page
 * whose rows all share one timestamp cannot be cut and is returned as it is.
 *
 * @example
 * keysetPage([{ eventTime: "12:02" }, { eventTime: "12:01" }, { eventTime: "12:01" }], 3)
 * // → { rows: [{ eventTime: "12:02" }], nextCursor: "12:02" }
 */
export function keysetPage<T extends { eventTime: string }>(rows: T[], limit: number): Page<T> {
  if (rows.length < limit) return { rows, nextCursor: null };
  const oldest = rows[rows.length - 1].eventTime;
  const before = rows.filter((row) => row.eventTime !== oldest);
  const page = before.length > 0 ? before : rows;
  return { rows: page, nextCursor: page[page.length - 1].eventTime };
}
