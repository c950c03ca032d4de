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
 * before there were lanes keep the one queue they used (now the interactive lane's).
 */
export function cloudflareQueue(lane: Lane): string {
  return cloudflareTaskQueue(mainTaskQueueOf(workflowInfo().taskQueue), patched('cloudflare-request-lanes') ? lane : 'interactive');
}
