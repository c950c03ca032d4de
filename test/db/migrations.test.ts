import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Pool } from 'pg';
import { startEmbeddedPostgres } from '../../src/db/embedded';
import { migrate } from '../../src/db/migrate';
import { MIGRATIONS_DIR } from '../../src/paths';
import { createTestDatabase, type TestDatabase } from '../support/database';

const TABLES = ['api_token_checks', 'api_token_identities', 'audit_events', 'pending_secrets', 'rotation_steps', 'rotations'];
const MIGRATION_COUNT = readdirSync(MIGRATIONS_DIR).filter((file) => file.endsWith('.sql')).length;

async function tables(pool: Pool): Promise<string[]> {
  const { rows } = await pool.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'pgmigrations' ORDER BY table_name",
  );
  return rows.map((row) => row.table_name);
}

describe('migrations', () => {
  describe('on a real PostgreSQL server', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase();
    });
    afterAll(async () => db?.drop());

    it('creates every table, and running again applies nothing', async () => {
      expect(await tables(db.pool)).toEqual(TABLES);
      expect(await migrate(db.url)).toEqual([]);
    });
  });

  describe('on embedded PGlite served over a socket', () => {
    let dir: string;
    let embedded: Awaited<ReturnType<typeof startEmbeddedPostgres>>;
    let pool: Pool;
    beforeAll(async () => {
      dir = mkdtempSync(path.join(os.tmpdir(), 'tw-pglite-'));
      embedded = await startEmbeddedPostgres(dir);
      pool = new Pool({ connectionString: embedded.url, max: 5 });
    });
    afterAll(async () => {
      await pool?.end();
      await embedded?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    it('applies the same migrations and serves concurrent pooled queries', async () => {
      expect(await migrate(embedded.url)).toHaveLength(MIGRATION_COUNT);
      expect(await tables(pool)).toEqual(TABLES);
      const counts = await Promise.all(Array.from({ length: 5 }, () => pool.query('SELECT count(*)::int AS n FROM audit_events')));
      expect(counts.map((r) => r.rows[0].n)).toEqual([0, 0, 0, 0, 0]);
    });
  });
});
