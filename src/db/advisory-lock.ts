import type { Pool } from 'pg';

/** First key of every lock token-warden takes, so it never meets another user's advisory locks. */
const NAMESPACE = 0x54574152; // "TWAR"

/**
 * A lock shared by every process on the database: `work` runs inside a transaction holding
 * `pg_advisory_xact_lock(namespace, hashtext(key))`. A holder that dies drops its connection, and
 * Postgres releases the lock with it. Waiting is bounded by `waitMs` (then the caller's retry
 * policy decides), so a slow holder cannot pile up waiters that outlive their own timeouts.
 */
export function createAdvisoryLock(pool: Pool, waitMs = 15_000) {
  return async function withLock<T>(key: string, work: () => Promise<T>): Promise<T> {
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`SET LOCAL lock_timeout = ${Math.max(1, Math.round(waitMs))}`);
      await client.query('SELECT pg_advisory_xact_lock($1, hashtext($2))', [NAMESPACE, key]);
      const result = await work();
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  };
}
