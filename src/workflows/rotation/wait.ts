import { condition } from '@temporalio/workflow';
import type { RotationRun } from './run';

/**
 * 5. wait — consumers pick up the new credential; an emergency revoke cuts it short. Not async:
 * the workflow awaits the step's own promise (replay, strategies/strategy.ts).
 */
export function waitForConsumers(run: RotationRun): Promise<boolean> {
  const { propagationWaitMs } = run.plan;
  return run.step(
    'wait',
    () => condition(() => run.revoked() !== undefined, propagationWaitMs),
    (wasRevoked) => ({ waitedMs: propagationWaitMs, cutShortBy: wasRevoked ? (run.revoked()?.actor ?? null) : null }),
  );
}
