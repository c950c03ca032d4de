import type { Lane } from '../cloudflare/budget/lanes';

/** Who or what started a run: "api:<client>", "schedule:<schedule id>", "signal:<client>", "sweep". */
export interface Trigger {
  actor: string;
  reason?: string;
}

/**
 * The task queue of Cloudflare calls in one lane of the request budget. Each lane has its own
 * queue and workers, so a revoke never waits for a worker slot behind routine work. The
 * interactive lane keeps the queue name every lane used before there were lanes.
 */
export function cloudflareTaskQueue(mainTaskQueue: string, lane: Lane = 'interactive'): string {
  return lane === 'interactive' ? `${mainTaskQueue}-cloudflare` : `${mainTaskQueue}-cloudflare-${lane}`;
}

/**
 * The workflow task queue of emergency revokes that start a run: its own workers, so the run's
 * workflow tasks and bookkeeping never queue behind routine work on the main queue.
 */
export function emergencyTaskQueue(mainTaskQueue: string): string {
  return `${mainTaskQueue}${EMERGENCY_SUFFIX}`;
}

const EMERGENCY_SUFFIX = '-emergency';

/** The main task queue of a run, whether it runs there or on the emergency queue beside it. */
export function mainTaskQueueOf(workflowTaskQueue: string): string {
  return workflowTaskQueue.endsWith(EMERGENCY_SUFFIX)
    ? workflowTaskQueue.slice(0, -EMERGENCY_SUFFIX.length)
    : workflowTaskQueue;
}

/** Routine work (schedules, sweeps, fan-out) runs in the scheduled lane; an operator's request is interactive. */
export function laneOfTrigger(trigger: Trigger): Lane {
  return trigger.actor.startsWith('api:') || trigger.actor.startsWith('signal:') ? 'interactive' : 'scheduled';
}
