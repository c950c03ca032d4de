import type { Pool } from 'pg';
import type { Lane } from '../cloudflare/budget/lanes';
import type { RateLimitReading } from '../cloudflare/budget/rate-limit-headers';
import type { BudgetShape } from '../cloudflare/budget/shape';
import type { BudgetLoad, BudgetStore, TakeResult } from '../cloudflare/budget/store';

/** Epoch milliseconds on the database's clock: every process measures the budget by one clock. */
const NOW = '(extract(epoch FROM clock_timestamp()) * 1000)::double precision';

/**
 * Outside requests (another client of the same user) expected before Cloudflare's window
 * resets, at the rate the readings showed so far in that window. The first seconds of a
 * window count as at least a sixtieth of it, so a single early request is not taken for a flood.
 */
const OUTSIDE_UNTIL_RESET = `(b.outside_in_window * (b.cf_reset_at - c.now) / GREATEST(c.now - (b.cf_reset_at - b.cf_window_ms), b.cf_window_ms / 60))`;

/**
 * One statement: take a request when the lane's burst allows it (GCRA: the theoretical arrival
 * time may run ahead of now by at most the lane's burst), Cloudflare has not blocked the user,
 * and Cloudflare's last reported allowance, less what outside clients are expected to spend
 * until its window resets, still leaves the higher lanes their share. The conditions read the
 * row under its lock, so two processes never take the same slot. The state before the attempt
 * comes back either way, for the wait.
 */
const TAKE = `
WITH c AS (SELECT ${NOW} AS now),
taken AS (
  UPDATE cloudflare_budget b
     SET tat = GREATEST(b.tat, c.now) + $2,
         granted = b.granted + 1,
         cf_remaining = CASE WHEN b.cf_reset_at > c.now THEN b.cf_remaining - 1 ELSE b.cf_remaining END,
         updated_at = now()
    FROM c
   WHERE b.owner = $1
     AND GREATEST(b.tat, c.now) - c.now <= $3
     AND b.blocked_until <= c.now
     AND (b.cf_reset_at IS NULL OR b.cf_reset_at <= c.now OR b.cf_remaining - 1 - $4 - ${OUTSIDE_UNTIL_RESET} >= 0)
  RETURNING 1
)
SELECT (SELECT count(*) FROM taken)::int AS granted, c.now, b.tat, b.blocked_until, b.cf_reset_at,
       (b.cf_reset_at > c.now AND b.cf_remaining - 1 - $4 - ${OUTSIDE_UNTIL_RESET} < 0) AS allowance_short
  FROM cloudflare_budget b, c
 WHERE b.owner = $1`;

/**
 * A reading within Cloudflare's current window (its reset within 1.5 s of the one on record:
 * answers round to seconds) lowers the remaining count, and what it shows beyond our own
 * requests was spent by someone else. A reading of a later window starts it afresh; one of an
 * earlier window, arriving late, is ignored.
 */
const OBSERVE = `
WITH c AS (SELECT ${NOW} AS now),
r AS (
  SELECT b.owner,
         (b.cf_reset_at IS NOT NULL AND b.cf_reset_at > c.now AND abs(c.now + $3 - b.cf_reset_at) < 1500) AS same,
         (b.cf_reset_at IS NULL OR b.cf_reset_at <= c.now OR c.now + $3 >= b.cf_reset_at + 1500) AS later
    FROM cloudflare_budget b, c WHERE b.owner = $1
)
UPDATE cloudflare_budget b
   SET outside_in_window = CASE WHEN r.same THEN b.outside_in_window + GREATEST(0, b.cf_remaining - $2) ELSE 0 END,
       cf_remaining = CASE WHEN r.same THEN LEAST(b.cf_remaining, $2) ELSE $2 END,
       cf_reset_at = CASE WHEN r.same THEN b.cf_reset_at ELSE c.now + $3 END,
       cf_window_ms = COALESCE($4, b.cf_window_ms, $5),
       cf_seen_at = c.now,
       updated_at = now()
  FROM c, r
 WHERE b.owner = r.owner AND (r.same OR r.later)`;

/**
 * Retry-After says when Cloudflare has room again: until then nobody sends, and what earlier
 * answers said of its window no longer holds, so the next answer's headers start afresh.
 * Every 429 is counted (`rate_limited`, for /metrics), also one whose block was already known.
 */
const BLOCK = `
UPDATE cloudflare_budget
   SET blocked_until = GREATEST(blocked_until, ${NOW} + $2), rate_limited = rate_limited + 1,
       cf_remaining = NULL, cf_reset_at = NULL, outside_in_window = 0, updated_at = now()
 WHERE owner = $1`;

interface TakeRow {
  granted: number;
  now: number;
  tat: number;
  blocked_until: number;
  cf_reset_at: number | null;
  allowance_short: boolean | null;
}

/** The budget shared by every worker through one Postgres row per Cloudflare user. */
export function createPostgresBudgetStore(pool: Pick<Pool, 'query'>): BudgetStore {
  const known = new Set<string>();
  async function ensure(owner: string): Promise<void> {
    if (known.has(owner)) return;
    await pool.query('INSERT INTO cloudflare_budget (owner) VALUES ($1) ON CONFLICT (owner) DO NOTHING', [owner]);
    known.add(owner);
  }

  return {
    async take(owner: string, lane: Lane, shape: BudgetShape): Promise<TakeResult> {
      await ensure(owner);
      const tolerance = (shape.burst[lane] - 1) * shape.emissionMs;
      const { rows } = await pool.query<TakeRow>(TAKE, [owner, shape.emissionMs, tolerance, shape.leaveToHigher[lane]]);
      const row = rows[0];
      if (!row) {
        known.delete(owner);
        return { granted: false, waitMs: 0 };
      }
      if (row.granted > 0) return { granted: true };
      const waits = [
        row.blocked_until - row.now,
        Math.max(row.tat, row.now) - row.now - tolerance,
        // Short of Cloudflare's allowance: look again soon (outside traffic may have slowed), and
        // at the latest when its window resets.
        row.allowance_short && row.cf_reset_at !== null ? Math.min(row.cf_reset_at - row.now, shape.windowMs / 30) : 0,
      ];
      return { granted: false, waitMs: Math.max(1, ...waits) };
    },

    async block(owner: string, retryAfterMs: number): Promise<void> {
      await ensure(owner);
      await pool.query(BLOCK, [owner, retryAfterMs]);
    },

    async observe(owner: string, reading: RateLimitReading, shape: BudgetShape): Promise<void> {
      await ensure(owner);
      await pool.query(OBSERVE, [owner, reading.remaining, reading.resetInMs, reading.windowMs, shape.windowMs]);
    },

    async load(owner: string): Promise<BudgetLoad> {
      const { rows } = await pool.query<{ granted: string | null; at: number }>(
        `SELECT (SELECT granted FROM cloudflare_budget WHERE owner = $1) AS granted, ${NOW} AS at`,
        [owner],
      );
      return { granted: Number(rows[0]?.granted ?? 0), at: rows[0]?.at ?? 0 };
    },
  };
}
