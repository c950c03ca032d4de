import { pruneHistory } from '../../src/db/history-retention';
import { startHistoryPruner } from '../../src/runtime/history-pruner';
import { createTestDatabase, type TestDatabase } from '../support/database';

const DAY = 86_400_000;
const daysAgo = (days: number) => new Date(Date.now() - days * DAY).toISOString();

describe('history retention', () => {
  let db: TestDatabase;
  beforeEach(async () => {
    db = await createTestDatabase();
  });
  afterEach(async () => db?.drop());

  async function rotation(runId: string, token: string, status: string, startedDaysAgo: number): Promise<void> {
    const finishedAt = status === 'running' ? null : daysAgo(startedDaysAgo - 0.01);
    await db.pool.query(
      `INSERT INTO rotations (run_id, workflow_id, account_id, token_name, strategy, mode, triggered_by, status, started_at, finished_at)
       VALUES ($1, 'rotate/a/' || $2, 'a', $2, 'rotate-secret', 'scheduled', 'schedule:x', $3, $4, $5)`,
      [runId, token, status, daysAgo(startedDaysAgo), finishedAt],
    );
    await db.pool.query(
      `INSERT INTO rotation_steps (run_id, seq, step, outcome, started_at) VALUES ($1, 1, 'resolve', 'ok', $2)`,
      [runId, daysAgo(startedDaysAgo)],
    );
  }
  async function check(runId: string, kind: string, checkedDaysAgo: number, autoHeal = false): Promise<void> {
    await db.pool.query(
      `INSERT INTO api_token_checks (run_id, workflow_id, kind, checked_at, triggered_by, overall_health, auto_heal_attempted, results)
       VALUES ($1, 'token-health/' || $1, $2, $3, 'schedule:x', 'healthy', $4, '{}')`,
      [runId, kind, daysAgo(checkedDaysAgo), autoHeal],
    );
  }
  async function audit(runId: string | null, occurredDaysAgo: number): Promise<void> {
    await db.pool.query(
      `INSERT INTO audit_events (actor, action, run_id, occurred_at) VALUES ('schedule:x', 'start', $1, $2)`,
      [runId, daysAgo(occurredDaysAgo)],
    );
  }
  const column = async (sql: string) => (await db.pool.query<{ id: string }>(sql)).rows.map((r) => r.id).sort();

  it('deletes rows older than the retention, in batches, and keeps every run still open and the newest of each kind', async () => {
    await rotation('old-done', 'ci', 'completed', 400);
    await rotation('old-failed', 'ci', 'failed', 390);
    await rotation('old-open', 'ci', 'running', 380);
    await rotation('recent', 'ci', 'completed', 3);
    await rotation('newer-but-open', 'lonely', 'running', 2);
    await rotation('lonely-last-done', 'lonely', 'completed', 500);
    await check('old-health', 'health', 400);
    await check('old-heal', 'health', 399, true);
    await check('newest-health', 'health', 380);
    await check('old-verify', 'verify', 400);
    await check('newest-verify', 'verify', 370);
    await audit('old-done', 400);
    await audit('old-open', 380);
    await audit('lonely-last-done', 500);
    await audit('old-health', 400);
    await audit(null, 400);
    await audit(null, 1);

    const pruned = await pruneHistory(db.pool, { retentionDays: 365, batchSize: 1 });

    expect(await column('SELECT run_id AS id FROM rotations')).toEqual([
      'lonely-last-done',
      'newer-but-open',
      'old-open',
      'recent',
    ]);
    expect(await column('SELECT DISTINCT run_id AS id FROM rotation_steps')).toEqual([
      'lonely-last-done',
      'newer-but-open',
      'old-open',
      'recent',
    ]);
    expect(await column('SELECT run_id AS id FROM api_token_checks')).toEqual([
      'newest-health',
      'newest-verify',
      'old-heal',
    ]);
    expect(
      await column(
        `SELECT coalesce(run_id, 'none:' || (occurred_at > now() - interval '2 days')) AS id FROM audit_events`,
      ),
    ).toEqual(['lonely-last-done', 'none:true', 'old-open']);
    expect(pruned).toEqual({ rotations: 2, apiTokenChecks: 2, auditEvents: 3 });
  });

  it('keeps everything when the retention is 0', async () => {
    await rotation('ancient', 'ci', 'completed', 4000);
    await rotation('old', 'ci', 'completed', 3000);
    await audit(null, 4000);
    expect(await pruneHistory(db.pool, { retentionDays: 0 })).toEqual({
      rotations: 0,
      apiTokenChecks: 0,
      auditEvents: 0,
    });
    expect(await column('SELECT run_id AS id FROM rotations')).toEqual(['ancient', 'old']);
  });

  it('prunes from the worker on a timer, logs what it removed, and stops cleanly', async () => {
    await rotation('old', 'ci', 'completed', 40);
    await rotation('new', 'ci', 'completed', 1);
    const logged: unknown[] = [];
    const logger = {
      info: (fields: unknown) => void logged.push(fields),
      warn: (fields: unknown) => void logged.push(fields),
    };
    const pruner = startHistoryPruner({
      pool: db.pool,
      retentionDays: 30,
      logger,
      firstAfterMs: 0,
      intervalMs: 60_000,
    });
    try {
      for (let i = 0; i < 100 && !logged.length; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      await pruner.stop();
    }
    expect(logged).toEqual([{ pruned: { rotations: 1, apiTokenChecks: 0, auditEvents: 0 }, retentionDays: 30 }]);
    expect(await column('SELECT run_id AS id FROM rotations')).toEqual(['new']);
  });
});
