import type { Pool } from 'pg';
import { createStoreMemo } from '../../src/db/store-memo';
import { createTestDatabase, type TestDatabase } from '../support/database';

/** The memo's own queries, so both servers are known to run them. */
async function exerciseMemo(pool: Pool): Promise<void> {
  const memo = createStoreMemo(pool);
  const key = 'secrets-store:acct/store/CF_ACCESS_CLIENT_ID';
  expect(await memo.get(key)).toBeUndefined();

  const version = async () =>
    (await pool.query<{ xmin: string }>('SELECT xmin::text FROM store_memo WHERE key = $1', [key])).rows[0]?.xmin;
  await memo.set(key, 'id-1');
  const written = await version();
  await memo.set(key, 'id-1'); // unchanged: the row is left alone
  expect(await version()).toBe(written);
  await memo.set(key, 'id-2');

  // Another memo over the same database (another worker process, or after a restart) sees it.
  expect(await createStoreMemo(pool).get(key)).toBe('id-2');
  expect(await memo.get('secrets-store:acct/store/CF_ACCESS_CLIENT_SECRET')).toBeUndefined();
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM store_memo');
  expect(rows[0]?.n).toBe(1);
}

describe('store memo', () => {
  describe('on a real PostgreSQL server', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase();
    });
    afterAll(async () => db?.drop());

    it('keeps what one memo sets for every memo over the database', () => exerciseMemo(db.pool));
  });
});
