import { proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { createWarmUpActivities } from '../activities/warm-up';
import { warmUpCalls } from './activity-options';

/**
 * Run once by each emergency thread as it starts, eagerly on its own connection so that its own
 * worker runs it: a worker's first workflow task compiles the workflow code on its path, and took
 * 200–300 ms longer than the next one in the fleet bench. That should not be a revoke's.
 */
export async function warmUpEmergencyWorker(): Promise<void> {
  const { warmUpCloudflareCalls } = proxyActivities<ReturnType<typeof createWarmUpActivities>>({
    // Its own queue: the activity starts eagerly on this worker, as a revoke's kill does.
    taskQueue: workflowInfo().taskQueue,
    ...warmUpCalls,
  });
  await warmUpCloudflareCalls();
}
