/**
 * Keyset pagination of newest-first lists: a page starts strictly after the last row of the one
 * before it in (time, key) descending order, so rows written meanwhile never shift a page and a
 * deep page costs what the first one does.
 */

/** Where a row sits in its list: its time to the microsecond (ISO 8601, UTC) and its unique key. */
export interface ListPosition {
  at: string;
  key: string;
}

export interface Page<T> {
  rows: T[];
  /** Where the next page starts; null when this one holds the last row. */
  next: ListPosition | null;
}

/**
 * A timestamptz column as exact text. A JavaScript Date keeps milliseconds and Postgres keeps
 * microseconds: a position taken from a Date would skip or repeat rows of the same millisecond.
 */
export const exactTime = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** Rows asked for with one more than `limit`: the extra one is never shown, it only says a next page exists. */
export function toPage<T>(rows: T[], limit: number, positionOf: (row: T) => ListPosition): Page<T> {
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  return { rows: shown, next: rows.length > limit && last ? positionOf(last) : null };
}
