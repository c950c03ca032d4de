import {
  emergencyRevokeSignal,
  progressQuery,
  type RotationProgress,
} from '../../src/workflows/rotation/rotate-service-token';
import {
  at,
  expectNoSecretArguments,
  CURRENT_REF,
  fail,
  failureTypeOf,
  finished,
  flow,
  inputsOf,
  NEW_FINGERPRINT,
  NEW_TOKEN_ID,
  OLD_TOKEN_ID,
  recordedStep,
  recordedSteps,
  startHarness,
  waitForPhase,
  type Harness,
  type Run,
} from './rotation-harness';

const HOUR = 60 * 60 * 1000;
const REVOKE = { actor: 'api:security', reason: 'secret pasted in a public channel' };

/** The old credential was never given more life than it had, nor less than the retire moment. */
function expectNoExtension(run: Run) {
  for (const e of inputsOf(run, 'setPreviousSecretExpiry'))
    expect(at(e.expiresAt)).toBeLessThanOrEqual(run.finishedAt + 1000);
}

/**
 * Emergency revoke: a run started in emergency mode kills the compromised secret in the same
 * call that issues its successor; an `emergencyRevoke` signal to a running rotation cuts its
 * wait short and retires at once.
 */
describe('rotateServiceToken, emergency revoke, with stub activities', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(async () => harness?.close());

  it.concurrent(
    'kills the old secret first, before any bookkeeping, skips the wait and confirms the probe rejects it',
    async () => {
      const run = await harness.run({ mode: 'emergency', plan: { propagationWaitMs: HOUR, overlapMs: 6 * HOUR } });

      expect(run.result).toMatchObject({
        status: 'completed',
        strategy: 'rotate-secret',
        tokenId: OLD_TOKEN_ID,
        emergency: true,
        recoveredLostSecret: false,
      });
      // Resolve and rotate (the previous secret expiring now) in one activity, in the emergency
      // lane, before the plan, the audit row or the run's record.
      expect(run.calls[0]).toMatchObject({ name: 'revokeServiceTokenSecret', queue: 'cloudflare', lane: 'emergency' });
      expect(flow(run)).toEqual([
        'revokeServiceTokenSecret',
        'propagateToStore',
        'verifyStore',
        'probeCredential:rejected',
        'promoteSecret',
      ]);
      expect(recordedSteps(run)).toEqual([
        'resolve:ok',
        'issue:ok',
        'propagate:ok',
        'verify:ok',
        'wait:ok',
        'retire:ok',
        'confirm revoked:ok',
        'finish:ok',
      ]);
      expect(recordedStep(run, 'issue')?.details).toMatchObject({
        previousSecretExpiresAt: 'at issue (emergency)',
        fingerprint: NEW_FINGERPRINT,
      });
      const [issue] = inputsOf(run, 'revokeServiceTokenSecret');
      // It is already dead: retire changes no expiry, and no failure path may extend it.
      expect(inputsOf(run, 'setPreviousSecretExpiry')).toEqual([]);
      expect(recordedStep(run, 'retire')?.details).toEqual({ previousSecretExpiredAt: 'at issue (emergency)' });
      // An hour of wait configured, none spent.
      expect(recordedStep(run, 'wait')?.details).toMatchObject({ cutShortBy: 'test:operator' });
      expect(run.finishedAt - run.startedAt).toBeLessThan(30_000);

      // The old credential (what the stores held) must now be refused by the Access app.
      const probes = inputsOf(run, 'probeCredential');
      expect(probes.find((p) => p.expect === 'rejected')).toMatchObject({ ref: CURRENT_REF });
      expect(probes.find((p) => p.expect === 'accepted')).toMatchObject({ ref: issue!.ref });
      expect(recordedStep(run, 'confirm revoked')?.details).toEqual({ probeStatus: 403 });

      expect(inputsOf(run, 'recordAudit')).toEqual([
        expect.objectContaining({ action: 'rotate.emergency', actor: 'test:operator' }),
      ]);
      expect(finished(run)).toMatchObject({
        status: 'completed',
        outcome: { emergency: true, revokedBy: 'test:operator', revokeReason: 'workflow test' },
      });
      expectNoSecretArguments(run);
    },
  );

  it.concurrent.each([
    ['no probe is configured', { hasProbe: false }],
    ['no current credential is on record', { currentRef: null, currentFingerprint: null }],
  ])('does not confirm the revoke with the probe when %s', async (_what, plan) => {
    const run = await harness.run({ mode: 'emergency', plan });

    expect(run.result?.emergency).toBe(true);
    expect(inputsOf(run, 'probeCredential').filter((p) => p.expect === 'rejected')).toEqual([]);
    expect(recordedSteps(run)).not.toContain('confirm revoked:ok');
  });

  it.concurrent('rotates a replace-strategy token in place, and says so', async () => {
    const run = await harness.run({ mode: 'emergency', strategy: 'replace' });

    expect(run.result).toMatchObject({ strategy: 'rotate-secret', tokenId: OLD_TOKEN_ID, emergency: true });
    expect(inputsOf(run, 'createReplacementToken')).toEqual([]);
    expect(inputsOf(run, 'recordRotationStart')).toEqual([
      expect.objectContaining({ strategy: 'rotate-secret', mode: 'emergency' }),
    ]);
    expect((await run.handle.query(progressQuery)).strategy).toBe('rotate-secret');
    expect((await run.handle.describe()).searchAttributes.RotationStrategy).toEqual(['rotate-secret']);
  });

  it.concurrent(
    'replaces a zone-scoped token, which has no rotate endpoint, and retires the old one without waiting',
    async () => {
      const run = await harness.run({
        mode: 'emergency',
        strategy: 'replace',
        plan: { zoneScoped: true, propagationWaitMs: HOUR },
      });

      expect(run.result).toMatchObject({
        status: 'completed',
        strategy: 'replace',
        tokenId: NEW_TOKEN_ID,
        emergency: true,
      });
      expect(inputsOf(run, 'issueRotatedSecret')).toEqual([]);
      // The kill-first activity answers that it cannot rotate in place; the run replaces instead.
      expect(flow(run)).toEqual([
        'revokeServiceTokenSecret',
        'resolveServiceToken',
        'createReplacementToken',
        'bindTokenToPolicies',
        'propagateToStore',
        'verifyStore',
        'unbindTokenFromPolicies',
        'deleteServiceToken',
        'probeCredential:rejected',
        'promoteSecret',
      ]);
      expect(inputsOf(run, 'deleteServiceToken')).toEqual([expect.objectContaining({ tokenId: OLD_TOKEN_ID })]);
      expect(run.finishedAt - run.startedAt).toBeLessThan(30_000);
    },
  );

  it.concurrent('reports phase and steps while waiting, and retires at once when the signal arrives', async () => {
    let waiting: RotationProgress | undefined;
    const run = await harness.run({
      plan: { propagationWaitMs: HOUR, overlapMs: 6 * HOUR },
      during: async (handle) => {
        await waitForPhase(handle, 'wait');
        waiting = await handle.query(progressQuery);
        await handle.signal(emergencyRevokeSignal, REVOKE);
      },
    });

    expect(waiting).toMatchObject({
      phase: 'wait',
      strategy: 'rotate-secret',
      mode: 'manual',
      emergency: false,
      tokenName: 'ci-api',
    });
    expect(waiting?.steps.map((s) => `${s.step}:${s.outcome}`)).toEqual([
      'resolve:ok',
      'issue:ok',
      'propagate:ok',
      'verify:ok',
    ]);
    expect(waiting?.steps.map((s) => s.seq)).toEqual([1, 2, 3, 4]);

    expect(run.result).toMatchObject({ status: 'completed', emergency: true });
    expect(run.finishedAt - run.startedAt).toBeLessThan(30_000);
    expect(recordedStep(run, 'wait')?.details).toMatchObject({ cutShortBy: REVOKE.actor });
    // The rotation had started normally: the old secret had its overlap, and retire cuts it now.
    const [retire] = inputsOf(run, 'setPreviousSecretExpiry');
    expect(at(retire!.expiresAt)).toBeLessThanOrEqual(run.finishedAt + 1000);
    expect(flow(run).slice(-3)).toEqual(['setPreviousSecretExpiry', 'probeCredential:rejected', 'promoteSecret']);
    expect(finished(run)).toMatchObject({
      status: 'completed',
      outcome: { revokedBy: REVOKE.actor, revokeReason: REVOKE.reason, emergency: true },
    });

    const done = await run.handle.query(progressQuery);
    expect(done).toMatchObject({ phase: 'done', emergency: true });
    expect(done.steps.map((s) => s.step)).toEqual([
      'resolve',
      'issue',
      'propagate',
      'verify',
      'wait',
      'retire',
      'confirm revoked',
      'finish',
    ]);
  });

  it.concurrent(
    'unbinds and deletes the old token of a replace at once when the signal arrives during the wait',
    async () => {
      const run = await harness.run({
        strategy: 'replace',
        plan: { propagationWaitMs: HOUR },
        during: async (handle) => {
          await waitForPhase(handle, 'wait');
          await handle.signal(emergencyRevokeSignal, REVOKE);
        },
      });

      expect(run.result).toMatchObject({ status: 'completed', strategy: 'replace', emergency: true });
      expect(flow(run).slice(-4)).toEqual([
        'unbindTokenFromPolicies',
        'deleteServiceToken',
        'probeCredential:rejected',
        'promoteSecret',
      ]);
      expect(inputsOf(run, 'deleteServiceToken')).toEqual([expect.objectContaining({ tokenId: OLD_TOKEN_ID })]);
      expect(run.finishedAt - run.startedAt).toBeLessThan(30_000);
    },
  );

  it.concurrent('ends a revoked secret, never extends it, when propagation fails after the signal', async () => {
    let signalled = false;
    const run = await harness.run({
      plan: { overlapMs: 6 * HOUR, notifyChannels: ['slack'] },
      stubs: {
        // The store write fails only once the operator has asked for the revoke.
        propagateToStore: async () => {
          while (!signalled) await new Promise((resolve) => setTimeout(resolve, 20));
          return fail('StoreWriteFailed', 'kubernetes:apps/ci-api-access: HTTP 403')();
        },
      },
      during: async (handle) => {
        await waitForPhase(handle, 'propagate');
        await handle.signal(emergencyRevokeSignal, REVOKE);
        signalled = true;
      },
    });

    expect(failureTypeOf(run)).toBe('EmergencyRevokeIncomplete');
    expectNoExtension(run);
    // The compromised previous secret is expired now instead of being kept valid for a day.
    expect(inputsOf(run, 'setPreviousSecretExpiry')).toEqual([expect.objectContaining({ tokenId: OLD_TOKEN_ID })]);
    expect(recordedSteps(run)).toEqual([
      'resolve:ok',
      'issue:ok',
      'propagate:failed',
      'retire:ok',
      'confirm revoked:ok',
      'finish:ok',
    ]);
    // The new secret is the only live one: it is what compensation would restore from now on.
    const [issue] = inputsOf(run, 'issueRotatedSecret');
    expect(inputsOf(run, 'promoteSecret')).toEqual([{ ref: issue!.ref }]);
    expect(inputsOf(run, 'restoreStore')).toEqual([]);
    expect(finished(run)).toMatchObject({
      status: 'failed',
      outcome: { emergency: true, current: NEW_FINGERPRINT, error: { type: 'StoreWriteFailed' } },
    });
    expect(inputsOf(run, 'notifyRotation').map((a) => [a.alert.event, a.alert.severity])).toEqual([
      ['emergency-incomplete', 'critical'],
    ]);
  });

  it.concurrent(
    "never gives a replace run's stores the revoked credential back: the old token goes, the new one stays",
    async () => {
      let signalled = false;
      const run = await harness.run({
        strategy: 'replace',
        stubs: {
          propagateToStore: async () => {
            while (!signalled) await new Promise((resolve) => setTimeout(resolve, 20));
            return fail('StoreWriteFailed', 'github:acme/api: HTTP 502')();
          },
        },
        during: async (handle) => {
          await waitForPhase(handle, 'propagate');
          await handle.signal(emergencyRevokeSignal, REVOKE);
          signalled = true;
        },
      });

      expect(failureTypeOf(run)).toBe('EmergencyRevokeIncomplete');
      expect(inputsOf(run, 'restoreStore')).toEqual([]);
      expect(inputsOf(run, 'unbindTokenFromPolicies')).toEqual([expect.objectContaining({ tokenId: OLD_TOKEN_ID })]);
      expect(inputsOf(run, 'deleteServiceToken')).toEqual([expect.objectContaining({ tokenId: OLD_TOKEN_ID })]);
      expect(inputsOf(run, 'discardSecret')).toEqual([]);
      const [created] = inputsOf(run, 'createReplacementToken');
      expect(inputsOf(run, 'promoteSecret')).toEqual([{ ref: created!.ref }]);
      expect(recordedSteps(run)).toEqual([
        'resolve:ok',
        'issue:ok',
        'bind:ok',
        'propagate:failed',
        'retire:ok',
        'confirm revoked:ok',
        'finish:ok',
      ]);
      expect(finished(run)).toMatchObject({ status: 'failed', outcome: { emergency: true, current: NEW_FINGERPRINT } });
    },
  );

  it.concurrent(
    'records a failed run, not a compensated one, when an emergency rotation cannot propagate',
    async () => {
      const run = await harness.run({ mode: 'emergency', stubs: { verifyStore: fail('StoreNotUpdated') } });

      // The old secret died at issue: nothing to keep alive, nothing to take back; the new one is current.
      expect(inputsOf(run, 'setPreviousSecretExpiry')).toEqual([]);
      expect(recordedSteps(run)).toEqual([
        'resolve:ok',
        'issue:ok',
        'propagate:ok',
        'verify:failed',
        'retire:ok',
        'confirm revoked:ok',
        'finish:ok',
      ]);
      expect(recordedStep(run, 'retire')?.details).toEqual({ previousSecretExpiredAt: 'at issue (emergency)' });
      expect(finished(run)).toMatchObject({
        status: 'failed',
        outcome: { error: { type: 'StoreNotUpdated' }, emergency: true, compensated: [] },
      });
      expect(failureTypeOf(run)).toBe('EmergencyRevokeIncomplete');
      expect((await run.handle.query(progressQuery)).phase).toBe('failed');
    },
  );
});
