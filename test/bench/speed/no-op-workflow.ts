import { proxyActivities } from '@temporalio/workflow';
import type { NoOpActivities } from './rotation-floor';

/**
 * P3's floor (bench only): six sequential activities that do nothing, the Temporal cost of a
 * rotation's six real steps without any of token-warden's own work or bookkeeping.
 */
const { noOp } = proxyActivities<NoOpActivities>({ startToCloseTimeout: '30s', retry: { maximumAttempts: 3 } });

export async function benchSixNoOps(): Promise<void> {
  for (let step = 0; step < 6; step++) await noOp(step);
}
