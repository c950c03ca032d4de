import { Pool } from 'pg';

export const POOL_SIZE = 10;

/**
 * The pools of a process: the main one; the Cloudflare budget's, so a request waiting for the
 * budget never waits for a connection that a Cloudflare call holds (an Access policy edit keeps
 * its lock's connection while its GET and PUT wait for the budget); and the lock holders', so
 * edits waiting for a lock never starve history writes.
 */
export const BUDGET_POOL_SIZE = 3;
export const LOCK_POOL_SIZE = 10;

/** `keepOpen`: connections never closed for being idle (the emergency thread's, see assemble-runtime.ts). */
export function createPool(databaseUrl: string, max = POOL_SIZE, keepOpen = 0): Pool {
  const pool = new Pool({ connectionString: databaseUrl, max, min: keepOpen, idleTimeoutMillis: 30_000 });
  // An idle client losing its server (restart, failover) must not crash the process.
  pool.on('error', () => undefined);
  // Nor a checked-out one between two statements (a lock held across a Cloudflare call): pg
  // reports that on the client, where nobody else listens. Its next statement fails instead, so
  // the work fails and is retried, and the pool discards the client when it comes back.
  pool.on('connect', (client) => client.on('error', () => undefined));
  return pool;
}
