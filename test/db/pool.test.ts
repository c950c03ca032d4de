import { Client } from 'pg';
import { createAdvisoryLock } from '../../src/db/advisory-lock';
import { createPool } from '../../src/db/pool';
import { createTestDatabase, type TestDatabase } from '../support/database';

/** Ends every session of the database that waits inside a transaction, as a Postgres restart (`pg_ctl stop -m fast`) does. */
async function endSessionsIdleInTransaction(url: string): Promise<number> {
  const admin = new Client({ connectionString: url });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ ended: boolean }>(
      `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND state = 'idle in transaction'`,
    );
    return rows.filter((r) => r.ended).length;
  } finally {
    await admin.end();
  }
}

describe('database pools when Postgres restarts', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  it('fails the work of a lock whose session Postgres ended between two statements, and the process lives on', async () => {
    // Found by the chaos run's Postgres restarts: an Access policy edit holds its lock's session
    // while it calls Cloudflare; pg reported the session's end as an 'error' event on a client
    // nobody listened to, and the whole worker process died with every activity it was running.
    const pool = createPool(db.url);
    try {
      const withLock = createAdvisoryLock(pool);
      const edit = withLock('access-policy/restart', async () => {
        expect(await endSessionsIdleInTransaction(db.url)).toBe(1);
        await new Promise((resolve) => setTimeout(resolve, 300)); // the Cloudflare call goes on meanwhile
        return 'edited';
      });
      // The lock no longer held, the edit cannot count as done under it: the activity retries it.
      await expect(edit).rejects.toThrow(/not queryable|terminat/i);
      expect((await pool.query<{ up: number }>('SELECT 1 AS up')).rows).toEqual([{ up: 1 }]);
    } finally {
      await pool.end();
    }
  });
});
