import { Context } from '@temporalio/activity';
import { permanentFailure } from './failure-types';
import { describeDataError, isDataError } from './postgres-errors';

/**
 * What became of a history or audit row. `sanitized`: Postgres refused the row for characters
 * it cannot store (a NUL byte, an unpaired surrogate) and it was stored with each replaced by
 * U+FFFD; `problem` says what Postgres refused (SQLSTATE and message, no values).
 */
export type HistoryWriteResult = { stored: 'as-given' } | { stored: 'sanitized'; problem: string };

/** Replaces what Postgres cannot store in text or jsonb, in every string and key, at any depth. */
export function storable<T>(value: T): T {
  const clean = (text: string) =>
    // eslint-disable-next-line no-control-regex -- NUL is exactly what Postgres cannot store in text
    text.replace(/\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
  const walk = (v: unknown): unknown => {
    if (typeof v === 'string') return clean(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v && typeof v === 'object' && Object.getPrototypeOf(v) === Object.prototype)
      return Object.fromEntries(Object.entries(v).map(([k, inner]) => [clean(k), walk(inner)]));
    return v;
  };
  return walk(value) as T;
}

function warn(message: string, attrs: Record<string, unknown>): void {
  try {
    Context.current().log.warn(message, attrs);
  } catch {
    // Outside an activity (a direct call in a test): nothing to log to.
  }
}

/**
 * Writes one history or audit row. Postgres being away is thrown as it is: the activity is
 * retried until the row is written (DESIGN §5.5). Postgres refusing the row for its data is not
 * an outage and retrying would never end: the row is written once more with what Postgres cannot
 * store replaced, and if that is refused too the failure is final (`HistoryDataRejected`), for the
 * workflow to record and alert on rather than wait for.
 */
export async function writeHistory<T>(
  what: string,
  value: T,
  write: (value: T) => Promise<void>,
): Promise<HistoryWriteResult> {
  try {
    await write(value);
    return { stored: 'as-given' };
  } catch (error) {
    if (!isDataError(error)) throw error;
    const problem = describeDataError(error);
    const cleaned = storable(value);
    if (JSON.stringify(cleaned) === JSON.stringify(value))
      throw permanentFailure('HistoryDataRejected', `${what} rejected by Postgres (${problem})`);
    try {
      await write(cleaned);
    } catch (second) {
      if (!isDataError(second)) throw second;
      throw permanentFailure(
        'HistoryDataRejected',
        `${what} rejected by Postgres (${describeDataError(second)}), also with unstorable characters replaced (first: ${problem})`,
      );
    }
    warn(`${what} stored with characters Postgres cannot store replaced`, { problem });
    return { stored: 'sanitized', problem };
  }
}
