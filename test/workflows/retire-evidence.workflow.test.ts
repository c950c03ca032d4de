import { ApplicationFailure } from '@temporalio/common';
import { flow, inputsOf, NEW_TOKEN_ID, recordedStep, startHarness, type Harness } from './rotation-harness';

/**
 * The wait of a `replace` (patch `replace-retire-on-evidence`): it reads the new token's
 * `last_seen_at` and retires once a consumer has used it after propagation, the configured wait
 * its bound; without the field, or without an answer, the timer decides and the step says so.
 * Since `replace-evidence-doubling-reads` the first read comes after a quarter of the wait (at
 * most 30 s) and each gap doubles the one before.
 */
describe('rotateServiceToken, replace, retiring on evidence, with stub activities', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(async () => harness?.close());

  it.concurrent(
    'retires as soon as the new token is seen after propagation, on the scheduled lane',
    async () => {
      let reads = 0;
      const run = await harness.run({
        strategy: 'replace',
        mode: 'manual',
        plan: { propagationWaitMs: 20_000 },
        stubs: {
          readServiceTokenLastSeen: async () => {
            reads += 1;
            // Seen once before propagation ended (verify's probe), then by a consumer.
            return { reported: true, lastSeenAt: new Date(reads < 2 ? Date.now() - 60_000 : Date.now()).toISOString() };
          },
        },
      });
      expect(run.result).toMatchObject({ status: 'completed', strategy: 'replace' });
      const evidence = run.calls.filter((c) => c.name === 'readServiceTokenLastSeen');
      expect(evidence).toHaveLength(2);
      expect(evidence.every((c) => c.lane === 'scheduled')).toBe(true);
      expect(inputsOf(run, 'readServiceTokenLastSeen')[0]).toMatchObject({ tokenId: NEW_TOKEN_ID });
      const wait = recordedStep(run, 'wait')!;
      expect(wait.details).toMatchObject({ evidence: 'seen', cutShortBy: null });
      expect(String(wait.details!.note)).toMatch(/^new token seen by a consumer at /);
      // Reads at 5 s (a quarter of the wait) and 10 s later, well before the 20 s timer.
      expect(Number(wait.details!.waitedMs)).toBeGreaterThanOrEqual(15_000);
      expect(Number(wait.details!.waitedMs)).toBeLessThan(20_000);
      expect(flow(run).slice(-3)).toEqual(['unbindTokenFromPolicies', 'deleteServiceToken', 'promoteSecret']);
    },
    40_000,
  );

  it.concurrent('falls back to the timer when Cloudflare reports no last_seen_at, and says so', async () => {
    const run = await harness.run({ strategy: 'replace', plan: { propagationWaitMs: 1_500 } });
    expect(run.result).toMatchObject({ status: 'completed' });
    expect(run.calls.filter((c) => c.name === 'readServiceTokenLastSeen')).toHaveLength(1);
    const wait = recordedStep(run, 'wait')!;
    expect(wait.details).toMatchObject({
      evidence: 'unreported',
      note: 'Cloudflare reports no last_seen_at; retired on the timer',
    });
    expect(Number(wait.details!.waitedMs)).toBeGreaterThanOrEqual(1_500);
  });

  it.concurrent(
    'falls back to the timer when the new token cannot be read, and never fails the rotation for it',
    async () => {
      const run = await harness.run({
        strategy: 'replace',
        plan: { propagationWaitMs: 2_000 },
        stubs: {
          readServiceTokenLastSeen: async () => {
            throw ApplicationFailure.create({ type: 'CloudflareRejected', message: 'stub', nonRetryable: true });
          },
        },
      });
      expect(run.result).toMatchObject({ status: 'completed' });
      expect(recordedStep(run, 'wait')!.details).toMatchObject({ evidence: 'unreadable' });
    },
  );

  it.concurrent(
    'gives up a read that outlasts the wait (a lost worker, a held-back lane) and retires on the timer',
    async () => {
      const run = await harness.run({
        strategy: 'replace',
        plan: { propagationWaitMs: 1_500 },
        stubs: {
          // Answers long after the wait: it would count as seen if the wait held retire for it.
          readServiceTokenLastSeen: async () => {
            await new Promise((resolve) => setTimeout(resolve, 8_000));
            return { reported: true, lastSeenAt: new Date().toISOString() };
          },
        },
      });
      expect(run.result).toMatchObject({ status: 'completed' });
      const wait = recordedStep(run, 'wait')!;
      expect(wait.details).toMatchObject({
        evidence: 'not-seen',
        note: "the new token's last_seen_at could not be read within the wait; retiring on the timer",
      });
      expect(Number(wait.details!.waitedMs)).toBeGreaterThanOrEqual(1_500);
      expect(Number(wait.details!.waitedMs)).toBeLessThan(8_000);
    },
    30_000,
  );

  it.concurrent(
    'reads twice in a 20 s wait no consumer ends, at 5 s and 15 s, and retires on the timer',
    async () => {
      const readAt: number[] = [];
      const run = await harness.run({
        strategy: 'replace',
        plan: { propagationWaitMs: 20_000 },
        stubs: {
          // Only verify's probe, before propagation ended, ever used the new token.
          readServiceTokenLastSeen: async () => {
            readAt.push(Date.now());
            return { reported: true, lastSeenAt: new Date(Date.now() - 60_000).toISOString() };
          },
        },
      });
      expect(run.result).toMatchObject({ status: 'completed' });
      const wait = recordedStep(run, 'wait')!;
      expect(wait.details).toMatchObject({
        evidence: 'not-seen',
        note: 'not seen within the wait; retiring on the timer',
      });
      expect(Number(wait.details!.waitedMs)).toBeGreaterThanOrEqual(20_000);
      expect(readAt).toHaveLength(2);
      // The second gap is twice the first (10 s after 5 s), give or take a workflow task.
      expect(readAt[1]! - readAt[0]!).toBeGreaterThanOrEqual(9_500);
      expect(readAt[1]! - readAt[0]!).toBeLessThan(12_000);
    },
    40_000,
  );

  it.concurrent('reads nothing when the wait ends before its first read would', async () => {
    // A quarter of 600 ms is under the shortest gap (1 s): the timer ends the wait first.
    const run = await harness.run({ strategy: 'replace', plan: { propagationWaitMs: 600 } });
    expect(run.result).toMatchObject({ status: 'completed' });
    expect(run.calls.filter((c) => c.name === 'readServiceTokenLastSeen')).toEqual([]);
    expect(recordedStep(run, 'wait')!.details).toMatchObject({
      evidence: 'not-seen',
      note: 'the wait ended before its first read; retired on the timer',
    });
  });

  it.concurrent('reads nothing for a rotate-secret, whose wait is the timer', async () => {
    const run = await harness.run({ strategy: 'rotate-secret' });
    expect(run.result).toMatchObject({ status: 'completed' });
    expect(run.calls.filter((c) => c.name === 'readServiceTokenLastSeen')).toEqual([]);
    expect(recordedStep(run, 'wait')!.details).toEqual({ waitedMs: 200, cutShortBy: null });
  });
});
