import { fail, finished, inputsOf, recordedSteps, startHarness, type Call, type Harness } from './rotation-harness';

const ROW_CALLS = new Set<Call['name']>([
  'recordAudit',
  'recordRotationStart',
  'recordRotationStep',
  'finishRotationRecord',
]);

/**
 * Issue 13: no batch of history rows sits on a rotation's critical path. The run row's batch is
 * an activity of its own beside the work (not a local activity the next call waits for), and the
 * run's last rows, the finish step's and the outcome among them, are written by the promote.
 */
describe('rotation history rows riding along with the work, with stub activities', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(async () => {
    await harness?.close();
  });

  it.concurrent('writes every row, none in a local activity, the last ones by the promote', async () => {
    const run = await harness.run({ strategy: 'rotate-secret' });

    expect(run.result).toMatchObject({ status: 'completed' });
    const rows = run.calls.filter((c) => ROW_CALLS.has(c.name));
    expect(rows.filter((c) => c.local)).toEqual([]);
    expect(recordedSteps(run)).toEqual([
      'resolve:ok',
      'issue:ok',
      'propagate:ok',
      'verify:ok',
      'wait:ok',
      'retire:ok',
      'finish:ok',
    ]);
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
