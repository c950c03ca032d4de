import { ActivityCancellationType } from '@temporalio/workflow';
import { CLOUDFLARE_CALL_WITH_BUDGET_WAIT } from './lanes';

/**
 * Every activity option set the workflows use (timeouts and retry policies), in one place.
 * A Cloudflare call's `startToCloseTimeout` is replaced by CLOUDFLARE_CALL_WITH_BUDGET_WAIT where
 * it is put on a lane (it may wait for the request budget); the value here is its own send's.
 */

/**
 * Activities heartbeat while they run (src/activities/heartbeat.ts): one silent this long lost
 * its worker and is retried elsewhere, rather than after its whole start-to-close timeout.
 */
const WORKER_LOST_AFTER = '15s';

/** History rows must survive a Postgres outage: retried until written. */
export const historyWrites = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute' },
} as const;

/** A rotation's history rows: the same, and a worker lost under one is noticed by its heartbeats. */
export const rotationHistoryWrites = { ...historyWrites, heartbeatTimeout: WORKER_LOST_AFTER } as const;

/** Cloudflare calls of the scheduled and operator workflows (inventory, refresh, verify): patient. */
export const cloudflareCalls = {
  startToCloseTimeout: CLOUDFLARE_CALL_WITH_BUDGET_WAIT,
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
} as const;

/** A rotation's Cloudflare calls. Mutations retry only after the activity has read state back. */
export const rotationCloudflareCalls = {
  startToCloseTimeout: '30s',
  heartbeatTimeout: WORKER_LOST_AFTER,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 8 },
} as const;

/** After retire there is no way back: retry until Cloudflare answers. */
export const retireCalls = {
  startToCloseTimeout: '30s',
  heartbeatTimeout: WORKER_LOST_AFTER,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute' },
} as const;

export const storeWrites = {
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: WORKER_LOST_AFTER,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 6 },
} as const;

/**
 * Store writes of runs since `rotation-history-beside-the-work`: a cancel waits for a write in
 * flight to end, so no write of the new credential lands after compensation gave the stores the
 * old one.
 */
export const storeWritesToTheEnd = {
  ...storeWrites,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
} as const;

/** Stores and the probe app get a bounded propagation window to show the new credential. */
export const verification = {
  startToCloseTimeout: '30s',
  heartbeatTimeout: WORKER_LOST_AFTER,
  scheduleToCloseTimeout: '3 minutes',
  retry: { initialInterval: '500ms', backoffCoefficient: 1.5, maximumInterval: '10s' },
} as const;

/**
 * Reads that only gather evidence (a replace's wait polling the new token's `last_seen_at`): a few
 * tries, then the wait falls back to its timer; a failed read never fails the rotation.
 */
export const evidenceReads = {
  startToCloseTimeout: '30s',
  heartbeatTimeout: WORKER_LOST_AFTER,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '10s', maximumAttempts: 3 },
} as const;

/** Rotation alerts are best effort: a few tries, then the run goes on (the history row says it all). */
export const rotationAlerts = {
  startToCloseTimeout: '15s',
  retry: { initialInterval: '1s', maximumAttempts: 3 },
} as const;

/** Reading the request budget's load while a fan-out paces itself: a few tries. */
export const budgetReads = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', maximumAttempts: 3 },
} as const;

/** Health checks' reads: a few attempts, so a health check answers even when Cloudflare is struggling. */
export const healthReads = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '15s', maximumAttempts: 5 },
} as const;

/** The health check's policy update: healApiToken reads state back before any retry, so retrying is safe. */
export const healthUpdates = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
} as const;

/** Inventory and identity cache: Postgres and configuration. */
export const localWork = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 10 },
} as const;

/** Health webhooks: retried for about an hour, in a child run so nobody waits for them. */
export const healthNotifications = {
  startToCloseTimeout: '20s',
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '10 minutes', maximumAttempts: 10 },
} as const;

/** The emergency thread's warm-up (warm-up.ts): one try; a failure only leaves the next revoke to pay for it. */
export const warmUpCalls = { startToCloseTimeout: '30s', retry: { maximumAttempts: 1 } } as const;
