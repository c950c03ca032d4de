import { ApplicationFailure } from '@temporalio/activity';
import type { WriteReceipt } from '../../src/stores/store-types';
import { NEW_FINGERPRINT, TARGETS, failureTypeOf, startHarness, type Harness } from '../workflows/rotation-harness';

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

  const receipt = (index: number): WriteReceipt => ({ store: TARGETS[index]!.label, fingerprint: NEW_FINGERPRINT, changed: true, expected: { evidence: 'fingerprint', fingerprint: NEW_FINGERPRINT } });
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
            throw ApplicationFailure.create({ message: 'file store refused (stub)', type: 'StoreWriteFailed', nonRetryable: true });
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
});
