import {
  fail,
  finished,
  inputsOf,
  recordedStep,
  recordedSteps,
  startHarness,
  TARGETS,
  type Call,
  type Harness,
} from './rotation-harness';

const ROW_CALLS = new Set<Call['name']>([
  'recordAudit',
  'recordRotationStart',
  'recordRotationStep',
  'finishRotationRecord',
]);

/**
 * Issue 13: a rotation close to Temporal's own floor. Bookkeeping never takes a round trip of its
 * own, and steps that follow each other with nothing between them share one activity.
 */
describe('a rotation with fewer round trips, with stub activities', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(async () => {
    await harness?.close();
  });

  /**
   * Issue 13: a service-token rotation's plan and its resolve come from one activity, on the run's
   * lane of the request budget: one answer for the workflow to wait on. A plan that fails there
   * (Postgres away) is asked for alone, and Cloudflare is not read again for it.
   */
  describe('plan and resolve in one call', () => {
    it.concurrent('plans and resolves side by side, on the lane, then issues', async () => {
      const run = await harness.run({ strategy: 'rotate-secret' });

      expect(run.result).toMatchObject({ status: 'completed' });
      const first = run.calls.slice(0, 2);
      expect(first.map((c) => c.name).sort()).toEqual(['planRotation', 'resolveServiceToken']);
      expect(first.every((c) => c.queue === 'cloudflare' && c.lane === 'interactive')).toBe(true);
      expect(recordedSteps(run)[0]).toBe('resolve:ok');
    });
    // A plan that fails beside resolve (Postgres away) is asked for alone, with one Cloudflare read:
    // history-beside.workflow.test.ts, the revoke that reaches a run still waiting for Postgres to plan.
  });

  /**
   * Issue 13: no batch of history rows sits on a rotation's critical path. The run row's batch is
   * an activity of its own beside the work (not a local activity the next call waits for), and the
   * run's last rows, the finish step's and the outcome among them, are written by the promote.
   */
  describe('history rows riding along with the work, and retire with finish', () => {
    it.concurrent('writes every row, none in a local activity, the last ones by the promote', async () => {
      const run = await harness.run({ strategy: 'rotate-secret' });

      expect(run.result).toMatchObject({ status: 'completed' });
      const rows = run.calls.filter((c) => ROW_CALLS.has(c.name));
      expect(rows.filter((c) => c.local)).toEqual([]);
      // Every step's row (their order: rotate-secret.workflow.test.ts), none of them twice.
      expect(new Set(recordedSteps(run)).size).toBe(7);
      expect(recordedSteps(run).at(-1)).toBe('finish:ok');
      expect(finished(run)).toMatchObject({ status: 'completed', outcome: { status: 'completed', emergency: false } });
      // After the promote, only the rows it took along: the wait's and retire's steps, its own, the outcome.
      const promote = run.calls.findIndex((c) => c.name === 'promoteSecret');
      expect(run.calls.slice(promote + 1).map((c) => c.name)).toEqual([
        'recordRotationStep',
        'recordRotationStep',
        'recordRotationStep',
        'finishRotationRecord',
      ]);
      expect(inputsOf(run, 'recordAudit').map((a) => a.action)).toEqual(['rotate.manual']);
      expect(inputsOf(run, 'recordRotationStart')).toHaveLength(1);
    });

    it.concurrent('records a promote that fails as a failed finish and a failed run, never as completed', async () => {
      const run = await harness.run({
        strategy: 'rotate-secret',
        stubs: { promoteSecret: fail('PendingSecretMissing') },
      });

      expect(run.failure).toBeDefined();
      expect(recordedSteps(run).slice(-2)).toEqual(['retire:ok', 'finish:failed']);
      expect(finished(run)).toMatchObject({ status: 'failed', outcome: { afterRetire: true, phase: 'finish' } });
    });

    it.concurrent('retires and finishes a rotate-secret run in one call on its lane, retire first', async () => {
      const run = await harness.run({ strategy: 'rotate-secret' });

      const last = run.calls.filter((c) => c.name === 'setPreviousSecretExpiry' || c.name === 'promoteSecret');
      expect(last.map((c) => [c.name, c.queue])).toEqual([
        ['setPreviousSecretExpiry', 'cloudflare'],
        ['promoteSecret', 'cloudflare'],
      ]);
      expect(finished(run).status).toBe('completed');
    });

    it.concurrent('records a retire that fails as the failed step, and promotes nothing', async () => {
      const run = await harness.run({
        strategy: 'rotate-secret',
        stubs: { setPreviousSecretExpiry: fail('CloudflareRejected') },
      });

      expect(run.failure).toBeDefined();
      expect(recordedSteps(run).slice(-2)).toEqual(['wait:ok', 'retire:failed']);
      expect(inputsOf(run, 'promoteSecret')).toEqual([]);
      expect(finished(run)).toMatchObject({ status: 'failed', outcome: { afterRetire: true, phase: 'retire' } });
    });
  });

  /**
   * Issue 13: a store on this side of the network (a file, Kubernetes, GitHub) reads back in its
   * write's activity, so verify needs no round trip of its own for it. A Cloudflare-hosted store is
   * still read back on its own (a request on its lane), and one whose read-back does not confirm in
   * the write is asked again by verify, retried until it does.
   */
  describe('read-backs inside the write', () => {
    const [local, cloudflareHosted] = TARGETS;

    it.concurrent('verifies a local store from its write, a Cloudflare-hosted one with a read of its own', async () => {
      const run = await harness.run({ strategy: 'rotate-secret' });

      expect(run.result).toMatchObject({ status: 'completed' });
      const writes = inputsOf(run, 'propagateToStore');
      expect(writes.find((w) => w.targetIndex === local!.index)).toMatchObject({ readBack: true });
      expect(writes.find((w) => w.targetIndex === cloudflareHosted!.index)).not.toHaveProperty('readBack');
      expect(inputsOf(run, 'verifyStore').map((v) => v.targetIndex)).toEqual([cloudflareHosted!.index]);
      // The verify step shows both stores' evidence, as before.
      expect(recordedStep(run, 'verify')).toMatchObject({
        outcome: 'ok',
        details: { stores: [expect.objectContaining({ evidence: 'fingerprint' }), expect.anything()] },
      });
    });

    it.concurrent('asks verify for a local store whose read-back in the write did not confirm', async () => {
      const run = await harness.run({
        strategy: 'rotate-secret',
        stubs: {
          propagateToStore: async (i) => ({
            store: TARGETS[i.targetIndex]!.label,
            fingerprint: 'sha256:new',
            changed: true,
            expected: { evidence: 'fingerprint' as const, fingerprint: 'sha256:new' },
          }),
        },
      });

      expect(run.result).toMatchObject({ status: 'completed' });
      expect(
        inputsOf(run, 'verifyStore')
          .map((v) => v.targetIndex)
          .sort(),
      ).toEqual([0, 1]);
      expect(inputsOf(run, 'verifyStore').every((v) => !('readBack' in v.receipt))).toBe(true);
    });
  });
});
