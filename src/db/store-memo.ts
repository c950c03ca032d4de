import type { Pool } from 'pg';
import type { StoreMemo } from '../stores/memo';

/**
 * The stores' memo in Postgres (see src/stores/memo.ts): every worker process shares it and it
 * outlives restarts, so a Secrets Store write edits by id even on a worker that never listed that
 * store. Last write wins: entries are ids Cloudflare gave, and a stale one costs a list, not a
 * wrong write.
 */
export function createStoreMemo(pool: Pick<Pool, 'query'>): StoreMemo {
  return {
    async get(key) {
      const { rows } = await pool.query<{ value: string }>('SELECT value FROM store_memo WHERE key = $1', [key]);
      return rows[0]?.value;
    },
    async set(key, value) {
      // An unchanged value leaves the row alone (no dead tuple for every write that relearns an id).
      await pool.query(
        `INSERT INTO store_memo (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now() WHERE store_memo.value IS DISTINCT FROM EXCLUDED.value`,
        [key, value],
      );
    },
  };
}
