import { randomBytes } from 'node:crypto';
import { rotationWorkflowId } from '../../src/inventory';
import type { FanOutOutcome } from '../../src/workflows/rotate-all-service-tokens';
import { fanOutProgressQuery } from '../../src/workflows/fan-out';
import type { SweepResult } from '../../src/workflows/sweep-expiry';
import { startRotationFixture, type RotationFixture } from '../support/rotation-fixture';

const DAY = 86_400_000;

describe('monthly fan-out and daily expiry sweep, on the real stack', () => {
  let f: RotationFixture;

  beforeAll(async () => {
    f = await startRotationFixture([
      {
        name: 'soon-rotate',
        strategy: 'rotate-secret',
        stores: 'file',
        expiresAt: new Date(Date.now() + 10 * DAY),
        renewBefore: '720h',
      },
      {
        name: 'soon-refresh',
        strategy: 'rotate-secret',
        stores: 'file',
        expiresAt: new Date(Date.now() + 5 * DAY),
        renewBefore: '720h',
        renewAction: 'refresh',
      },
      { name: 'far-away', strategy: 'replace', stores: 'file' },
      { name: 'long-wait', strategy: 'rotate-secret', stores: 'file', propagationWait: '1 hour' },
    ]);
  });
  afterAll(async () => f?.close());

  it('sweeps: rotates what its inventory says to rotate, refreshes the others, leaves the rest alone', async () => {
    const before = {
      refresh: f.stack.sim.state.getServiceToken(f.tokens['soon-refresh']!.id) as { expires_at: string },
      far: f.fileCredential('far-away'),
    };
    const result = (await f.stack.client.workflow.execute('sweepExpiry', {
      taskQueue: f.stack.taskQueue,
      workflowId: `test/sweep/${randomBytes(4).toString('hex')}`,
      args: [{ trigger: { actor: 'schedule:test-sweep' } }],
    })) as SweepResult;
    expect(result.rotated).toEqual([{ accountId: f.accountId, tokenName: 'soon-rotate', outcome: 'completed' }]);
    expect(result.refreshed.map((r) => r.tokenName)).toEqual(['soon-refresh']);
    const refreshed = f.stack.sim.state.getServiceToken(f.tokens['soon-refresh']!.id) as { expires_at: string };
    expect(Date.parse(refreshed.expires_at)).toBeGreaterThan(Date.parse(before.refresh.expires_at) + 300 * DAY);
    expect(f.fileCredential('soon-refresh').clientSecret).toBe(f.tokens['soon-refresh']!.clientSecret); // same secret
    expect(f.fileCredential('soon-rotate').clientSecret).not.toBe(f.tokens['soon-rotate']!.clientSecret);
    expect(await f.probe(f.fileCredential('soon-rotate'))).toBe(200);
    expect(f.fileCredential('far-away')).toEqual(before.far);
    const [row] = await f.stack.rotations.listRotations({ tokenName: 'soon-rotate', limit: 1 });
    expect(row).toMatchObject({ mode: 'expiry', status: 'completed', triggeredBy: 'schedule:test-sweep' });
  });

  it('rotates every token, paced by the budget, joining a rotation that is already running instead of starting another', async () => {
    const running = await f.stack.client.workflow.start('rotateServiceToken', {
      taskQueue: f.stack.taskQueue,
      workflowId: rotationWorkflowId(f.accountId, 'long-wait'),
      args: [{ accountId: f.accountId, tokenName: 'long-wait', mode: 'manual', trigger: { actor: 'api:test-client' } }],
    });
    const fanOut = await f.stack.client.workflow.start('rotateAllServiceTokens', {
      taskQueue: f.stack.taskQueue,
      workflowId: `test/rotate-all/${randomBytes(4).toString('hex')}`,
      args: [{ trigger: { actor: 'schedule:test-monthly' } }],
    });
    const outcomes = (await fanOut.result()) as FanOutOutcome[];
    expect(Object.fromEntries(outcomes.map((o) => [o.tokenName, o.outcome]))).toEqual({
      'soon-rotate': 'completed',
      'soon-refresh': 'completed',
      'far-away': 'completed',
      'long-wait': 'joined-running',
    });
    for (const name of ['soon-rotate', 'soon-refresh', 'far-away'])
      expect(await f.probe(f.fileCredential(name))).toBe(200);
    // What the API and the dashboard show of a fan-out: its progress, here at the end.
    expect(await fanOut.query(fanOutProgressQuery)).toMatchObject({
      total: 4,
      completed: 3,
      joined: 1,
      failed: 0,
      running: 0,
      waiting: 0,
      etaSeconds: 0,
    });
    await running.terminate('test over');
  });
});

describe('a fleet rotation whose history grows long, on the real stack', () => {
  const names = Array.from({ length: 9 }, (_, i) => `fleet-${i + 1}`);
  let f: RotationFixture;

  beforeAll(async () => {
    f = await startRotationFixture(
      names.map((name) => ({ name, strategy: 'rotate-secret' as const, stores: 'file' as const })),
    );
  });
  afterAll(async () => f?.close());

  it('continues as new, carrying what it did, and ends with every token rotated once', async () => {
    const workflowId = `test/rotate-all-long/${randomBytes(4).toString('hex')}`;
    const fanOut = await f.stack.client.workflow.start('rotateAllServiceTokens', {
      taskQueue: f.stack.taskQueue,
      workflowId,
      // Past 12 events a run starts no more rotations: the nine need several runs.
      args: [{ trigger: { actor: 'schedule:test-monthly' }, eventsPerRun: 12 }],
    });
    const outcomes = (await fanOut.result()) as FanOutOutcome[];
    expect(outcomes.map((o) => `${o.tokenName}: ${o.outcome}`).sort()).toEqual(
      names.map((name) => `${name}: completed`).sort(),
    );
    for (const name of names) expect(await f.probe(f.fileCredential(name))).toBe(200);

    const first = await f.stack.client.workflow.getHandle(workflowId, fanOut.firstExecutionRunId).describe();
    const last = await f.stack.client.workflow.getHandle(workflowId).describe();
    expect([first.status.name, last.status.name]).toEqual(['CONTINUED_AS_NEW', 'COMPLETED']);
    // The last run answers for the whole fan-out; the audit row is the first run's only.
    expect(await fanOut.query(fanOutProgressQuery)).toMatchObject({
      total: 9,
      completed: 9,
      failed: 0,
      running: 0,
      waiting: 0,
    });
    const audit = await f.stack.db.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM audit_events WHERE action = 'rotate-all' AND workflow_id = $1`,
      [workflowId],
    );
    expect(Number(audit.rows[0]!.n)).toBe(1);
  });
});
