import { CancelledFailure } from '@temporalio/common';
import { progressQuery } from '../../src/workflows/rotation/rotate-service-token';
import {
  at,
  expectNoSecretArguments,
  fail,
  failureTypeOf,
  finished,
  flaky,
  flow,
  inputsOf,
  NEW_FINGERPRINT,
  OLD_CLIENT_ID,
  OLD_TOKEN_ID,
  recordedStep,
  recordedSteps,
  startHarness,
  type Harness,
} from './rotation-harness';

const HOUR = 60 * 60 * 1000;
const DAY = 24 * HOUR;

async function until(test: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/**
 * `rotateServiceToken` with the rotate-secret strategy: Cloudflare's rotate keeps the old
 * secret alive for the overlap, so failures before retire are survived by keeping it alive
 * longer, never by deleting anything.
 */
describe('rotateServiceToken, rotate-secret, with stub activities', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(async () => harness?.close());

  it.concurrent('resolves, issues, propagates, verifies, waits, retires and finishes, in that order', async () => {
    const run = await harness.run({ plan: { overlapMs: 6 * HOUR } });

    expect(run.failure).toBeUndefined();
    expect(run.result).toEqual({
      status: 'completed',
      strategy: 'rotate-secret',
      tokenId: OLD_TOKEN_ID,
      clientId: OLD_CLIENT_ID,
      fingerprint: NEW_FINGERPRINT,
      recoveredLostSecret: false,
      emergency: false,
    });
    expect(flow(run)).toEqual([
      'resolveServiceToken',
      'issueRotatedSecret',
      'propagateToStore',
      'verifyStore',
      'setPreviousSecretExpiry',
      'promoteSecret',
    ]);
    expect(recordedSteps(run)).toEqual([
      'resolve:ok',
      'issue:ok',
      'propagate:ok',
      'verify:ok',
      'wait:ok',
      'retire:ok',
      'finish:ok',
    ]);
    expect(inputsOf(run, 'recordRotationStep').map((s) => s.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(inputsOf(run, 'recordRotationStart')).toEqual([
      expect.objectContaining({
        strategy: 'rotate-secret',
        mode: 'manual',
        triggeredBy: 'test:operator',
        tokenName: 'ci-api',
      }),
    ]);
    expect(inputsOf(run, 'recordAudit')).toEqual([
      expect.objectContaining({ actor: 'test:operator', action: 'rotate.manual', subject: 'ci-api' }),
    ]);

    // Issue: the old secret stays valid for the overlap, against the version resolve saw.
    const [issue] = inputsOf(run, 'issueRotatedSecret');
    expect(issue).toMatchObject({ tokenId: OLD_TOKEN_ID, expectedVersion: 3 });
    expect(at(issue!.previousSecretExpiresAt)).toBeGreaterThanOrEqual(run.startedAt + 6 * HOUR - 1000);
    expect(at(issue!.previousSecretExpiresAt)).toBeLessThanOrEqual(run.finishedAt + 6 * HOUR + 1000);

    // Every store gets the issued ref; the read-backs and the probe check that ref's fingerprint.
    const ref = issue!.ref;
    expect(
      inputsOf(run, 'propagateToStore')
        .map((p) => [p.targetIndex, p.ref])
        .sort(),
    ).toEqual([
      [0, ref],
      [1, ref],
    ]);
    expect(
      run.calls
        .filter((c) => c.name === 'propagateToStore')
        .map((c) => c.queue)
        .sort(),
    ).toEqual(['cloudflare', 'main']);
    // The file read back in its write; the Workers secret is read back on its own.
    expect(inputsOf(run, 'verifyStore').map((v) => [v.targetIndex, v.receipt.fingerprint])).toEqual([
      [1, NEW_FINGERPRINT],
    ]);
    expect(inputsOf(run, 'probeCredential')).toEqual([expect.objectContaining({ ref, expect: 'accepted' })]);
    expect(recordedStep(run, 'propagate')?.details).toMatchObject({
      round: 1,
      stores: [
        { store: 'file:/etc/app/cf.env', fingerprint: NEW_FINGERPRINT, changed: true },
        { store: 'workers-secret:api', fingerprint: NEW_FINGERPRINT, changed: true },
      ],
    });
    expect(recordedStep(run, 'verify')?.details).toMatchObject({ probeStatus: 200 });

    // Retire moves the previous secret's expiry to "now": the moment of the retire step.
    const [retire] = inputsOf(run, 'setPreviousSecretExpiry');
    expect(retire?.tokenId).toBe(OLD_TOKEN_ID);
    expect(at(retire!.expiresAt)).toBeGreaterThanOrEqual(run.startedAt - 1000);
    expect(at(retire!.expiresAt)).toBeLessThanOrEqual(run.finishedAt + 1000);
    expect(run.calls.find((c) => c.name === 'setPreviousSecretExpiry')?.queue).toBe('cloudflare');

    // Finish promotes exactly the issued ref and records the result, no revoke.
    expect(inputsOf(run, 'promoteSecret')).toEqual([{ ref }]);
    expect(finished(run)).toMatchObject({
      status: 'completed',
      outcome: { ...run.result, revokedBy: null, revokeReason: null },
    });
    expect(inputsOf(run, 'discardSecret')).toEqual([]);

    // Nothing secret crosses an activity boundary: refs, ids and fingerprints only.
    expectNoSecretArguments(run);

    const progress = await run.handle.query(progressQuery);
    expect(progress).toMatchObject({ phase: 'done', strategy: 'rotate-secret', emergency: false });
    expect(progress.steps.map((s) => `${s.step}:${s.outcome}`)).toEqual(recordedSteps(run));
  });

  it.concurrent('records a failed run and touches nothing when resolve fails', async () => {
    const run = await harness.run({
      stubs: { resolveServiceToken: fail('ServiceTokenNotFound', 'no service token named ci-api in Cloudflare') },
    });

    expect(flow(run)).toEqual(['resolveServiceToken']);
    expect(recordedSteps(run)).toEqual(['resolve:failed', 'compensate:skipped']);
    expect(recordedStep(run, 'resolve')?.details).toEqual({
      type: 'ServiceTokenNotFound',
      message: 'no service token named ci-api in Cloudflare',
    });
    expect(finished(run)).toMatchObject({
      status: 'failed',
      outcome: { error: { type: 'ServiceTokenNotFound' }, compensated: [], failedCompensations: [] },
    });
    expect(failureTypeOf(run)).toBe('RotationFailed');
  });

  it.concurrent('records a failed run and extends nothing when the rotate call itself fails', async () => {
    const run = await harness.run({
      stubs: { issueRotatedSecret: fail('CloudflareRejected', 'rotate service token ci-api: HTTP 403 Forbidden') },
    });

    expect(flow(run)).toEqual(['resolveServiceToken', 'issueRotatedSecret']);
    expect(recordedSteps(run)).toEqual(['resolve:ok', 'issue:failed', 'compensate:skipped']);
    expect(finished(run)).toMatchObject({
      status: 'failed',
      outcome: { error: { type: 'CloudflareRejected' }, compensated: [] },
    });
    expect(failureTypeOf(run)).toBe('RotationFailed');
  });

  it.concurrent(
    'keeps the old secret valid and keeps retrying only the store that fails, never compensating, until an operator cancels',
    async () => {
      const run = await harness.run({
        plan: { overlapMs: 400 },
        stubs: {
          propagateToStore: async (i) =>
            i.targetIndex === 1
              ? fail('StoreWriteFailed', 'workers-secret:api: HTTP 403')()
              : {
                  store: 'file:/etc/app/cf.env',
                  fingerprint: NEW_FINGERPRINT,
                  changed: true,
                  expected: { evidence: 'fingerprint', fingerprint: NEW_FINGERPRINT },
                },
        },
        during: async (handle, scenario) => {
          await until(() => inputsOf(scenario, 'recordRotationStep').filter((s) => s.step === 'propagate').length >= 4);
          await handle.cancel();
        },
      });

      const steps = recordedSteps(run);
      expect(steps.slice(0, 5)).toEqual([
        'resolve:ok',
        'issue:ok',
        'propagate:failed',
        'verify:ok',
        'extend previous secret:ok',
      ]);
      expect(steps.slice(5, 7)).toEqual(['propagate:failed', 'propagate:failed']);
      expect(steps).not.toContain('compensate:compensated');
      expect(recordedStep(run, 'propagate')?.details).toMatchObject({
        round: 1,
        type: 'StoreWriteFailed',
        failed: [{ store: 'workers-secret:api', type: 'StoreWriteFailed' }],
      });
      // The file store took the new secret in round 1 and read it back; only the Workers secret is written again.
      const writes = inputsOf(run, 'propagateToStore');
      expect(writes.filter((w) => w.targetIndex === 0)).toHaveLength(1);
      expect(writes.filter((w) => w.targetIndex === 1).length).toBeGreaterThanOrEqual(4);
      expect(inputsOf(run, 'verifyStore').map((v) => v.targetIndex)).toEqual([0]);
      // Every expiry change keeps the old secret a recovery window out; none retires it.
      const expiries = inputsOf(run, 'setPreviousSecretExpiry');
      expect(expiries.length).toBeGreaterThanOrEqual(2);
      for (const e of expiries) {
        expect(e.tokenId).toBe(OLD_TOKEN_ID);
        expect(at(e.expiresAt)).toBeGreaterThanOrEqual(run.startedAt + DAY - 1000);
      }
      // rotate-secret has no store to restore and no token to delete: the issued secret is live, and current.
      expect(inputsOf(run, 'restoreStore')).toEqual([]);
      expect(inputsOf(run, 'deleteServiceToken')).toEqual([]);
      expect(inputsOf(run, 'promoteSecret')).toEqual([{ ref: inputsOf(run, 'issueRotatedSecret')[0]!.ref }]);
      expect(run.failure?.cause).toBeInstanceOf(CancelledFailure);
      expect(finished(run)).toMatchObject({
        status: 'cancelled',
        outcome: {
          bothValid: true,
          storesWithoutNewSecret: ['workers-secret:api'],
          error: { type: 'CancelledFailure' },
        },
      });
      expect(
        run.logs
          .filter((l) => l.level === 'WARN' && /propagation incomplete/.test(l.message))
          .map((l) => l.attrs.round)
          .slice(0, 3),
      ).toEqual([1, 2, 3]);
    },
  );

  it.concurrent.each([
    [
      'a store read-back',
      { verifyStore: fail('StoreNotUpdated', 'workers-secret:api does not show the new credential') },
      'StoreNotUpdated',
    ],
    [
      'the probe',
      { probeCredential: fail('ProbeRejected', 'probe answered 403, expected the credential to be accepted') },
      'ProbeRejected',
    ],
  ] as const)(
    'keeps the old secret valid and keeps asking when %s never confirms the new one',
    async (_what, stubs, type) => {
      const run = await harness.run({
        plan: { overlapMs: 400 },
        stubs,
        during: async (handle, scenario) => {
          await until(() => inputsOf(scenario, 'recordRotationStep').filter((s) => s.step === 'verify').length >= 3);
          await handle.cancel();
        },
      });

      const steps = recordedSteps(run);
      expect(steps.slice(0, 5)).toEqual([
        'resolve:ok',
        'issue:ok',
        'propagate:ok',
        'verify:failed',
        'extend previous secret:ok',
      ]);
      expect(steps).not.toContain('compensate:compensated');
      expect(steps).not.toContain('retire:ok');
      expect(recordedStep(run, 'verify')?.details).toMatchObject({ type });
      expect(inputsOf(run, 'setPreviousSecretExpiry').every((e) => at(e.expiresAt) >= run.startedAt + DAY - 1000)).toBe(
        true,
      );
      expect(inputsOf(run, 'restoreStore')).toEqual([]);
      expect(finished(run)).toMatchObject({ status: 'cancelled', outcome: { bothValid: true } });
    },
  );

  it.concurrent('completes after a propagation round fails once, with the old secret extended in between', async () => {
    let readBacks = 0;
    const run = await harness.run({
      plan: { overlapMs: 400 },
      stubs: { verifyStore: async (i) => (++readBacks === 1 ? fail('StoreNotUpdated')() : i.receipt.expected) },
    });

    expect(run.result?.status).toBe('completed');
    expect(recordedSteps(run)).toEqual([
      'resolve:ok',
      'issue:ok',
      'propagate:ok',
      'verify:failed',
      'extend previous secret:ok',
      'propagate:ok',
      'verify:ok',
      'wait:ok',
      'retire:ok',
      'finish:ok',
    ]);
    expect(
      inputsOf(run, 'recordRotationStep')
        .filter((s) => s.step === 'propagate')
        .map((s) => s.details?.round),
    ).toEqual([1, 2]);
    const [extend, retire] = inputsOf(run, 'setPreviousSecretExpiry');
    expect(at(extend!.expiresAt)).toBeGreaterThanOrEqual(run.startedAt + DAY - 1000);
    expect(at(retire!.expiresAt)).toBeLessThanOrEqual(run.finishedAt + 1000);
    expect(finished(run).status).toBe('completed');
  });

  it.concurrent('retries a failing retire forward and never compensates after it', async () => {
    const run = await harness.run({
      stubs: { setPreviousSecretExpiry: flaky(2, async () => undefined) },
    });

    expect(run.result?.status).toBe('completed');
    expect(run.calls.filter((c) => c.name === 'setPreviousSecretExpiry').map((c) => c.attempt)).toEqual([1, 2, 3]);
    expect(recordedSteps(run)).toEqual([
      'resolve:ok',
      'issue:ok',
      'propagate:ok',
      'verify:ok',
      'wait:ok',
      'retire:ok',
      'finish:ok',
    ]);
    expect(inputsOf(run, 'restoreStore')).toEqual([]);
    expect(finished(run).status).toBe('completed');
  });

  it.concurrent('records a failed run, not a running one, when retire fails for good', async () => {
    const run = await harness.run({
      stubs: { setPreviousSecretExpiry: fail('CloudflareRejected', 'set previous secret expiry of ci-api: HTTP 403') },
    });

    expect(recordedSteps(run)).toEqual([
      'resolve:ok',
      'issue:ok',
      'propagate:ok',
      'verify:ok',
      'wait:ok',
      'retire:failed',
    ]);
    // Past retire there is nothing to undo: the stores hold the new secret, which stays current.
    expect(inputsOf(run, 'setPreviousSecretExpiry')).toHaveLength(1);
    expect(inputsOf(run, 'restoreStore')).toEqual([]);
    expect(finished(run)).toMatchObject({
      status: 'failed',
      outcome: { error: { type: 'CloudflareRejected' }, phase: 'retire' },
    });
    expect(failureTypeOf(run)).toBe('ActivityFailure');
  });
});
