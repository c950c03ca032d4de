import { patched, workflowInfo } from '@temporalio/workflow';
import type { Lane } from '../cloudflare/budget/lanes';
import { cloudflareTaskQueue, mainTaskQueueOf } from './triggers';

/**
 * A Cloudflare call waits for the shared request budget (minutes, when Cloudflare has blocked
 * the user) before it sends; each send has its own timeout, and a dead worker is still noticed
 * by its missing heartbeats.
 */
export const CLOUDFLARE_CALL_WITH_BUDGET_WAIT = '10 minutes';

/**
 * The task queue of this run's Cloudflare calls in `lane` of the request budget. Runs recorded
 * before there were lanes keep the one queue they used (now the interactive lane's);
 * `lanesKnown`: the run knows it started since (a rotation's baseline patch), no marker needed.
 */
export function cloudflareQueue(lane: Lane, lanesKnown = false): string {
  const { taskQueue } = workflowInfo();
  // A run on the emergency queue makes its emergency calls there: its worker runs them in the
  // emergency lane, and an activity on the workflow's own queue can start in the same round
  // trip as the workflow task that scheduled it (eager dispatch).
  if (lane === 'emergency' && taskQueue !== mainTaskQueueOf(taskQueue)) return taskQueue;
  return cloudflareTaskQueue(
    mainTaskQueueOf(taskQueue),
    lanesKnown || patched('cloudflare-request-lanes') ? lane : 'interactive',
  );
}
