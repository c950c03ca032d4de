import { ApplicationFailure } from '@temporalio/common';
import { fail, inputsOf, startHarness, type Harness } from './rotation-harness';

/** Rotations that need a human say so on every configured channel, with no secret in the alert. */
describe('rotateServiceToken alerts, with stub activities', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(async () => harness?.close());

  it.concurrent('alerts on every channel when a replace fails and is undone', async () => {
    const run = await harness.run({
      strategy: 'replace',
      plan: { notifyChannels: ['webhook', 'slack'] },
      stubs: { verifyStore: fail('StoreNotUpdated') },
    });
    const alerts = inputsOf(run, 'notifyRotation');
    expect(alerts.map((a) => a.channel).sort()).toEqual(['slack', 'webhook']);
    expect(alerts[0]!.alert).toMatchObject({
      severity: 'warning',
      event: 'rotation-compensated',
      tokenName: expect.any(String),
      workflowId: run.workflowId,
    });
    expect(alerts[0]!.alert.message).toMatch(/undone/);
  });

  it.concurrent(
    'warns while rotate-secret propagation keeps failing, and the run still completes when it recovers',
    async () => {
      let writes = 0;
      const run = await harness.run({
        strategy: 'rotate-secret',
        plan: { notifyChannels: ['slack'] },
        stubs: {
          propagateToStore: async (input) => {
            writes++;
            if (writes <= 2)
              throw ApplicationFailure.create({ message: 'store down', type: 'StoreWriteFailed', nonRetryable: true });
            return {
              store: `t${input.targetIndex}`,
              fingerprint: 'sha256:0000000000000000',
              changed: true,
              expected: { evidence: 'fingerprint', fingerprint: 'sha256:0000000000000000' },
            };
          },
          verifyStore: async (input) => input.receipt.expected,
        },
      });
      expect(run.result?.status).toBe('completed');
      expect(inputsOf(run, 'notifyRotation').map((a) => a.alert.event)).toContain('propagation-failing');
    },
  );

  it.concurrent(
    'still makes the new credential current when the probe keeps accepting a revoked one, then fails loudly',
    async () => {
      const probeRejectsNothing = fail('ProbeStillAccepts');
      const run = await harness.run({
        strategy: 'rotate-secret',
        mode: 'emergency',
        plan: { notifyChannels: ['webhook'] },
        stubs: {
          probeCredential: async (input) => (input.expect === 'accepted' ? { status: 200 } : probeRejectsNothing()),
        },
      });
      expect(run.failure).toBeDefined();
      expect(inputsOf(run, 'promoteSecret')).toHaveLength(1);
      expect(inputsOf(run, 'finishRotationRecord').at(-1)).toMatchObject({
        status: 'failed',
        outcome: { afterRetire: true },
      });
      expect(inputsOf(run, 'notifyRotation').map((a) => a.alert.event)).toEqual(['failed-after-retire']);
    },
  );

  it.concurrent(
    'sends nothing when no channel is configured, and an undeliverable alert does not fail the run',
    async () => {
      const quiet = await harness.run({ strategy: 'rotate-secret' });
      expect(inputsOf(quiet, 'notifyRotation')).toEqual([]);
      const undeliverable = await harness.run({
        strategy: 'rotate-secret',
        mode: 'emergency',
        plan: { notifyChannels: ['webhook'] },
        stubs: { notifyRotation: fail('NotifyRejected') },
      });
      expect(undeliverable.result?.status).toBe('completed');
      expect(inputsOf(undeliverable, 'notifyRotation').length).toBeGreaterThanOrEqual(1);
    },
  );
});
