import { randomBytes } from 'node:crypto';
import { createPool } from '../../src/db/pool';
import { createPendingSecretStore } from '../../src/secrets/pending-secrets';
import { createSecretBox } from '../../src/secrets/secret-box';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { installStagingGate, killBetweenAnswerAndStaging } from './staging-gate';

/** The chaos run's aimed kill: the worker it aims at dies while its staging write waits at the gate. */
describe('chaos staging gate', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    await installStagingGate(db.pool);
  });
  afterAll(async () => db?.drop());

  it("kills the worker whose staging write waits at the gate, not before it gets there, and lets other workers' writes through after", async () => {
    const workerUrl = (name: string) => {
      const url = new URL(db.url);
      url.searchParams.set('application_name', name);
      return url.toString();
    };
    const box = createSecretBox({ currentKeyId: 'k', keys: new Map([['k', randomBytes(32)]]) });
    const aimedAt = createPool(workerUrl('chaos-worker-1'));
    const other = createPool(workerUrl('chaos-worker-2'));
    try {
      const stage = (pool: typeof aimedAt, ref: string) =>
        createPendingSecretStore(pool, box).stagePending({ accountId: 'a', tokenName: 't' }, ref, {
          clientId: 'id',
          clientSecret: randomBytes(16).toString('hex'),
        });
      let killedWhileWaiting: boolean | undefined;
      const waiting = async () =>
        (
          await db.pool.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'chaos-worker-1' AND wait_event = 'advisory'`,
          )
        ).rows[0]?.n === 1;
      const kill = async () => {
        killedWhileWaiting ??= await waiting();
        await db.pool.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'chaos-worker-1'`,
        );
      };
      const attempt = killBetweenAnswerAndStaging(db.pool, { applicationName: 'chaos-worker-1', kill }, () => false);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // The other worker's write waits at the closed gate too, and is not the one aimed at.
      const otherWrite = stage(other, '00000000-0000-4000-8000-000000000002');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(killedWhileWaiting).toBeUndefined();
      const aimedWrite = stage(aimedAt, '00000000-0000-4000-8000-000000000001').catch((error: unknown) => error);
      expect(await attempt).toBe(true);
      expect(killedWhileWaiting).toBe(true);
      expect(await aimedWrite).toBeInstanceOf(Error); // it died with its connection
      await expect(otherWrite).resolves.toMatchObject({ stage: 'pending' });
    } finally {
      await aimedAt.end();
      await other.end();
    }
  });
});
