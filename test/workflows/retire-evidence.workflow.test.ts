import { ApplicationFailure } from '@temporalio/common';
import { flow, inputsOf, NEW_TOKEN_ID, recordedStep, startHarness, type Harness } from './rotation-harness';

/**
 * The wait of a `replace` (patch `replace-retire-on-evidence`): it polls the new token's
 * `last_seen_at` and retires once a consumer has used it after propagation, the configured wait
 * its bound; without the field, or without an answer, the timer decides and the step says so.
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
            return { reported: true, lastSeenAt: new Date(reads < 3 ? Date.now() - 60_000 : Date.now()).toISOString() };
          },
        },
      });
      expect(run.result).toMatchObject({ status: 'completed', strategy: 'replace' });
      const evidence = run.calls.filter((c) => c.name === 'readServiceTokenLastSeen');
      expect(evidence).toHaveLength(3);
      expect(evidence.every((c) => c.lane === 'scheduled')).toBe(true);
      expect(inputsOf(run, 'readServiceTokenLastSeen')[0]).toMatchObject({ tokenId: NEW_TOKEN_ID });
      const wait = recordedStep(run, 'wait')!;
      expect(wait.details).toMatchObject({ evidence: 'seen', cutShortBy: null });
      expect(String(wait.details!.note)).toMatch(/^new token seen by a consumer at /);
      // Three polls 5 s apart (a quarter of the wait), well before the 20 s timer.
      expect(Number(wait.details!.waitedMs)).toBeGreaterThanOrEqual(10_000);
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
        plan: { propagationWaitMs: 1_000 },
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

  it.concurrent('reads nothing for a rotate-secret, whose wait is the timer', async () => {
    const run = await harness.run({ strategy: 'rotate-secret' });
    expect(run.result).toMatchObject({ status: 'completed' });
    expect(run.calls.filter((c) => c.name === 'readServiceTokenLastSeen')).toEqual([]);
    expect(recordedStep(run, 'wait')!.details).toEqual({ waitedMs: 200, cutShortBy: null });
  });
});
