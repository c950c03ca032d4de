import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embedded';
import { migrate } from '../../src/db/migrate';
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

  describe('on embedded PGlite served over a socket', () => {
    let dir: string;
    let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>>;
    let pool: Pool;
    beforeAll(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'tw-pglite-memo-'));
      embedded = await startEmbeddedPostgres(dir);
      pool = new Pool({ connectionString: embedded.url, max: 2 });
      await migrate(embedded.url);
    });
    afterAll(async () => {
      await pool?.end();
      await embedded?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('keeps what one memo sets for every memo over the database', () => exerciseMemo(pool));
  });
});
