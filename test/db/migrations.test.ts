import type { Pool } from 'pg';
import { migrate } from '../../src/db/migrate';
import { randomBytes } from 'node:crypto';
import { createHistoryRepository } from '../../src/db/history-repository';
import { pruneHistory } from '../../src/db/history-retention';
import { createRotationRepository } from '../../src/db/rotation-repository';
import { createPendingSecretStore } from '../../src/secrets/pending-secrets';
import { createSecretBox } from '../../src/secrets/secret-box';
import { fingerprintCredential } from '../../src/stores';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { createPostgresBudgetStore } from '../../src/db/cloudflare-budget-store';
import { budgetShape } from '../../src/cloudflare/budget/shape';

const TABLES = [
  'access_policy_index',
  'access_policy_scans',
  'api_token_checks',
  'api_token_identities',
  'audit_events',
  'cloudflare_budget',
  'discovered_credentials',
  'discovery_runs',
  'pending_secrets',
  'rotation_steps',
  'rotations',
  'store_memo',
];

async function tables(pool: Pool): Promise<string[]> {
  const { rows } = await pool.query<{ table_name: string }>(
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> 'pgmigrations' ORDER BY table_name",
  );
  return rows.map((row) => row.table_name);
}

/** The repositories' own queries, end to end, so both servers are known to run them. */
async function exerciseRepositories(pool: Pool): Promise<void> {
  const history = createHistoryRepository(pool);
  await history.recordAudit({ actor: 'api:ops', action: 'rotate.manual', subject: 'ci', workflowId: 'w', runId: 'r1' });
  await history.recordAudit({ actor: 'api:ops', action: 'rotate.manual', subject: 'ci', workflowId: 'w', runId: 'r1' }); // retried: once
  expect((await history.listAudit(10, 'ci')).map((a) => a.actor)).toEqual(['api:ops']);
  await history.recordApiTokenCheck({
    runId: 'r1',
    workflowId: 'w',
    kind: 'verify',
    triggeredBy: 'schedule:x',
    overallHealth: 'healthy',
    autoHealAttempted: false,
    autoHealSuccess: null,
    results: [{ name: 't' }],
  });
  expect(await history.listApiTokenChecks(5, 'verify')).toEqual([
    expect.objectContaining({ runId: 'r1', results: [{ name: 't' }] }),
  ]);

  const rotations = createRotationRepository(pool);
  await rotations.startRotation({
    runId: 'r2',
    workflowId: 'rotate/a/ci',
    accountId: 'a',
    tokenName: 'ci',
    strategy: 'replace',
    mode: 'manual',
    triggeredBy: 'api:ops',
  });
  await rotations.recordStep({
    runId: 'r2',
    seq: 1,
    step: 'resolve',
    outcome: 'ok',
    startedAt: new Date().toISOString(),
    details: { tokenId: 't1' },
  });
  await rotations.finishRotation('r2', 'completed', { fingerprint: 'sha256:x' });
  expect(await rotations.lastRotation('a', 'ci')).toMatchObject({
    status: 'completed',
    steps: [{ step: 'resolve', details: { tokenId: 't1' } }],
  });
  const later = { at: '2100-01-01T00:00:00.000000Z', key: 'z' };
  expect(await rotations.listRotationPage({ accountId: 'a', tokenName: 'ci', limit: 1, before: later })).toEqual({
    rows: [expect.objectContaining({ runId: 'r2' })],
    next: null,
  });

  // A health row's history entry is its results without the report (a generated column).
  const summary = { account_token: { valid: true, has_all_perms: true, missing_perms: 0 }, user_token: null };
  await history.recordApiTokenCheck({
    runId: 'r3',
    workflowId: 'w',
    kind: 'health',
    triggeredBy: 'schedule:x',
    overallHealth: 'healthy',
    autoHealAttempted: false,
    autoHealSuccess: null,
    results: { version: 1, timestamp: 't', summary, report: { tokens: [] } },
  });
  expect(await history.listHealthHistory({ limit: 5, before: { at: later.at, key: '9223372036854775807' } })).toEqual({
    rows: [expect.objectContaining({ runId: 'r3', summary: { version: 1, timestamp: 't', summary } })],
    next: null,
  });
  expect(await pruneHistory(pool, { retentionDays: 30 })).toEqual({ rotations: 0, apiTokenChecks: 0, auditEvents: 0 });

  const key = randomBytes(32);
  const pending = createPendingSecretStore(pool, createSecretBox({ currentKeyId: 'k', keys: new Map([['k', key]]) }));
  const token = { accountId: 'a', tokenName: 'ci' };
  const old = { clientId: 'id.access', clientSecret: randomBytes(16).toString('hex') };
  const next = { clientId: 'id.access', clientSecret: randomBytes(16).toString('hex') };
  await pending.setCurrent(token, old);
  const abandoned = '00000000-0000-4000-8000-000000000000'; // staged by a run that failed
  await pending.stagePending(token, abandoned, {
    clientId: 'id.access',
    clientSecret: randomBytes(16).toString('hex'),
  });
  const ref = '00000000-0000-4000-8000-000000000001';
  await pending.stagePending(token, ref, next);
  expect(await pending.open(ref)).toEqual(next);
  const { rows } = await pool.query<{ ciphertext: Buffer }>('SELECT ciphertext FROM pending_secrets');
  for (const row of rows) expect(row.ciphertext.toString('latin1')).not.toContain(next.clientSecret); // encrypted at rest
  await pending.promote(ref);
  expect(await pending.current(token)).toMatchObject({ ref, fingerprint: fingerprintCredential(next) });
  expect(await pending.find(abandoned)).toBeUndefined();
  const left = await pool.query<{ stage: string }>(
    `SELECT stage FROM pending_secrets WHERE account_id = 'a' AND token_name = 'ci'`,
  );
  expect(left.rows.map((r) => r.stage)).toEqual(['current']);

  // The Cloudflare request budget: a burst, then a wait; headers and a 429 block on record.
  const budget = createPostgresBudgetStore(pool);
  const shape = budgetShape({ requestsPerWindow: 100, windowMs: 60_000 });
  const takes = [];
  for (let i = 0; i <= shape.burst.scheduled; i++) takes.push(await budget.take('alice', 'scheduled', shape));
  expect(takes.slice(0, -1).every((t) => t.granted)).toBe(true);
  expect(takes.at(-1)).toEqual({ granted: false, waitMs: expect.any(Number) });
  expect(await budget.take('alice', 'emergency', shape)).toEqual({ granted: true });
  await budget.observe('alice', { remaining: 2, resetInMs: 30_000, windowMs: 60_000 }, shape);
  expect(await budget.take('alice', 'interactive', shape)).toEqual({ granted: false, waitMs: expect.any(Number) });
  await budget.block('alice', 5_000);
  const blocked = await budget.take('alice', 'emergency', shape);
  expect(blocked.granted).toBe(false);
  expect(blocked.granted === false && blocked.waitMs).toBeGreaterThan(4_000);
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

    it('runs every repository query', () => exerciseRepositories(db.pool));
  });
});
