import { ApplicationFailure } from '@temporalio/activity';

/**
 * Every `ApplicationFailure` type token-warden's activities and workflows throw, in one list.
 * Workflows, alerts and tests match failures by these names, so they are stable: add one
 * here before throwing it. Workflow code imports the `FailureType` type only (the workflow
 * sandbox takes activities as types) and writes the names as checked string literals.
 */
export const FAILURE_TYPES = [
  // Cloudflare (cloudflare-errors.ts): permanent refusals and retryable unavailability.
  'CloudflareRejected',
  'CloudflareUnavailable',
  /** Cloudflare answered something token-warden cannot use (no secret, malformed token data). */
  'CloudflareContract',
  // Service tokens and the inventory.
  'UnknownServiceToken',
  'ServiceTokenNotFound',
  'RotatedSecretLost',
  'ReplacementTokenVanished',
  'UnknownApiToken',
  'ApiTokenValueMissing',
  // API-token rotation (api-token-rotation.ts).
  /** A roll was applied but its answer was lost: the old value is dead and the new one unseen. */
  'RolledValueLost',
  /** Cloudflare does not (yet) accept a new value as the token it was issued as. */
  'ApiTokenNotAccepted',
  /** A new token lacks a permission the inventory requires of it. */
  'ApiTokenLacksPermission',
  /** token-warden's own token was rotated but its requests do not use the successor yet: retried. */
  'WardenNotSwitched',
  // Propagation targets and the probe.
  'UnknownTarget',
  'InvalidTarget',
  'StoreConfigureFailed',
  'StoreWriteFailed',
  'StoreReadBackFailed',
  'StoreRestoreFailed',
  'StoreFailed',
  'StoreNotUpdated',
  /** A consumer of a store (a Kubernetes workload in `restart:`) is still rolling out: retried. */
  'RolloutIncomplete',
  /** A consumer did not finish rolling out within the target's rolloutTimeout: verify fails. */
  'RolloutFailed',
  'NoProbe',
  'ProbeUnreachable',
  'ProbeRejected',
  'ProbeStillAccepts',
  // The pending-secret store.
  /** No staged secret under the reference: wiped, or never staged. */
  'PendingSecretMissing',
  /** The staged secret does not open: unknown key id, tampered or corrupt ciphertext. */
  'PendingSecretUnreadable',
  /** Postgres failed a statement an activity needed on its way (a lock timeout, a restart): retried. */
  'DatabaseUnavailable',
  // History and audit rows.
  /** Postgres refused a history or audit row for its data (SQLSTATE classes 22 and 23), even cleaned. */
  'HistoryDataRejected',
  /** A worker built without discovery's Postgres records (a harness that does not run discovery). */
  'DiscoveryNotWired',
  /** An account the worker's inventory does not list (workers started on different inventories): another may know it. */
  'UnknownAccount',
  // Alerts.
  'NotifyNotConfigured',
  'NotifyRejected',
  'NotifyUnavailable',
  // What the rotation workflow itself ends with.
  'RotationCompensated',
  'RotationFailed',
  'EmergencyRevokeIncomplete',
] as const;

export type FailureType = (typeof FAILURE_TYPES)[number];

/** A failure retrying cannot change: Temporal does not retry it. */
export function permanentFailure(type: FailureType, message: string, details?: unknown[]): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, ...(details ? { details } : {}) });
}

/** A failure that may pass: Temporal retries it under the activity's retry policy. */
export function retryableFailure(type: FailureType, message: string, details?: unknown[]): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: false, ...(details ? { details } : {}) });
}
