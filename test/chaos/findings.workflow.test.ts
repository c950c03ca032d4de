import { ApplicationFailure } from '@temporalio/activity';
import type { WriteReceipt } from '../../src/stores/store-types';
import {
  NEW_FINGERPRINT,
  NEW_TOKEN_ID,
  OLD_TOKEN,
  OLD_TOKEN_ID,
  TARGETS,
  at,
  failureTypeOf,
  flow,
  inputsOf,
  startHarness,
  type Harness,
} from '../workflows/rotation-harness';

/**
 * What the chaos suite found in rotateServiceToken, pinned down with stub activities (the
 * workflow-tier harness of test/workflows) so each stays fixed without a chaos run.
 */
describe('rotateServiceToken: findings of the chaos suite', () => {
  let harness: Harness;
  beforeAll(async () => {
    harness = await startHarness();
  });
  afterAll(async () => harness?.close());

  const receipt = (index: number): WriteReceipt => ({
    store: TARGETS[index]!.label,
    fingerprint: NEW_FINGERPRINT,
    changed: true,
    expected: { evidence: 'fingerprint', fingerprint: NEW_FINGERPRINT },
  });
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('waits for every store write to end before it restores the stores of a failed replace', async () => {
    // Store 0 refuses for good at once; store 1's write is still being retried (a worker was
    // killed under it, a slow API). Restoring store 1 before that write lands would leave it
    // holding the new credential of a token compensation then deletes.
    const events: string[] = [];
    const run = await harness.run({
      strategy: 'replace',
      stubs: {
        propagateToStore: async (input) => {
          if (input.targetIndex === 0) {
            events.push('write 0 refused');
            throw ApplicationFailure.create({
              message: 'file store refused (stub)',
              type: 'StoreWriteFailed',
              nonRetryable: true,
            });
          }
          await sleep(1_500);
          events.push(`write ${input.targetIndex} landed`);
          return receipt(input.targetIndex);
        },
        restoreStore: async (input) => {
          events.push(`restore ${input.targetIndex}`);
        },
      },
    });
    expect(failureTypeOf(run)).toBe('RotationCompensated');
    expect(events.indexOf('write 1 landed')).toBeGreaterThanOrEqual(0);
    expect(events.indexOf('write 1 landed')).toBeLessThan(events.indexOf('restore 1'));
  });

  it('keeps the previous secret alive through a whole propagation round and the wait, however short the overlap', async () => {
    // Overlap 400 ms: a store write retried after a worker crash (a minute later) would otherwise
    // find the secret the stores still hold already dead.
    const run = await harness.run({ plan: { overlapMs: 400, propagationWaitMs: 200 } });
    expect(run.result).toMatchObject({ status: 'completed', strategy: 'rotate-secret' });
    const [issue] = inputsOf(run, 'issueRotatedSecret');
    expect(at(issue!.previousSecretExpiresAt)).toBeGreaterThanOrEqual(run.startedAt + 10 * 60_000);
    expect(at(issue!.previousSecretExpiresAt)).toBeLessThanOrEqual(run.finishedAt + 10 * 60_000 + 200 + 1_000);
  });

  it('finishes blue/green when the previous secret is still alive from an earlier run, so a rotate cannot kill it', async () => {
    // An earlier rotate-secret run was compensated: Cloudflare's current secret is the one it
    // issued, the previous one (what some stores hold) was kept valid for a day.
    const previousAlive = { ...OLD_TOKEN, previousSecretExpiresAt: new Date(Date.now() + 86_400_000).toISOString() };
    const run = await harness.run({ stubs: { resolveServiceToken: async () => previousAlive } });
    expect(run.result).toMatchObject({ status: 'completed', strategy: 'replace', tokenId: NEW_TOKEN_ID });
    expect(flow(run)).toEqual([
      'resolveServiceToken',
      'createReplacementToken',
      'bindTokenToPolicies',
      'propagateToStore',
      'verifyStore',
      'unbindTokenFromPolicies',
      'deleteServiceToken',
      'promoteSecret',
    ]);
  });

  it('still rotates in place in an emergency, when the previous secret is to die anyway', async () => {
    const previousAlive = { ...OLD_TOKEN, previousSecretExpiresAt: new Date(Date.now() + 86_400_000).toISOString() };
    const run = await harness.run({
      mode: 'emergency',
      stubs: {
        revokeServiceTokenSecret: async (i) => ({
          resolved: previousAlive,
          issued: {
            ref: i.ref,
            fingerprint: NEW_FINGERPRINT,
            tokenId: OLD_TOKEN.tokenId,
            clientId: OLD_TOKEN.clientId,
            secretVersion: 2,
          },
        }),
      },
    });
    expect(run.result).toMatchObject({ status: 'completed', strategy: 'rotate-secret', emergency: true });
    expect(flow(run)).toContain('revokeServiceTokenSecret');
    expect(flow(run)).not.toContain('createReplacementToken');
  });

  it.each(['rotate-secret', 'replace'] as const)(
    'retires the other tokens of the name once every store holds the new credential (%s)',
    async (strategy) => {
      // A replace whose stores could not all be restored kept both tokens valid and bound.
      const run = await harness.run({
        strategy,
        stubs: { resolveServiceToken: async () => ({ ...OLD_TOKEN, strays: ['tok-stray-3333'] }) },
      });
      expect(run.result).toMatchObject({ status: 'completed', strategy });
      const deleted = inputsOf(run, 'deleteServiceToken').map((i) => i.tokenId);
      expect(deleted).toEqual(strategy === 'replace' ? [OLD_TOKEN_ID, 'tok-stray-3333'] : ['tok-stray-3333']);
      expect(inputsOf(run, 'unbindTokenFromPolicies').map((i) => i.tokenId)).toContain('tok-stray-3333');
      if (strategy === 'replace')
        expect(inputsOf(run, 'createReplacementToken')[0]?.strays).toEqual(['tok-stray-3333']);
    },
  );
});
