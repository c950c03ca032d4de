import { Context, type ApplicationFailure } from '@temporalio/activity';
import type { Inventory } from '../config';
import { splitApiTokenTarget } from '../api-token-rotate-config';
import { findServiceToken, rotationTargetsOf } from '../inventory';
import { r2S3Credential } from '../stores/r2-credentials';
import type { PendingSecretStore, TokenKey } from '../secrets/pending-secrets';
import {
  createStore,
  propagationTargetSchema,
  readBackConfirms,
  StoreError,
  type PropagationStore,
  type ReadBack,
  type ServiceTokenCredential,
  type StoreDeps,
  type WriteOptions,
  type WriteReceipt,
} from '../stores';
import type { StoreOperation } from '../stores/store-error';
import { permanentFailure, retryableFailure, type FailureType } from './failure-types';
import { openStaged } from './pending-secret-access';

export interface PropagationDeps {
  inventory: Pick<Inventory, 'accounts'>;
  pending: Pick<PendingSecretStore, 'open' | 'current'>;
  stores: StoreDeps;
  /** The probe's HTTP client; tests may point it anywhere on loopback. */
  fetch?: typeof fetch;
}

export interface StoreTarget extends TokenKey {
  targetIndex: number;
}

export interface PropagateInput extends StoreTarget {
  ref: string;
  /**
   * The workflow's propagation round, from 1. Round 1 writes only what may have changed; a later
   * round follows a failed one and writes every half, so a binding someone deleted is restored.
   * Absent: round 1.
   */
  round?: number;
  /**
   * Read the store back right after the write (a store on this machine's side of the network:
   * not a Cloudflare call), so verify needs no round trip of its own when it confirms. Stores
   * whose consumers must restart are verified on their own, where the retries are the polls.
   */
  readBack?: boolean;
}

/** A write's receipt, and the read-back that confirmed it when the write was asked to read back. */
export type WriteAnswer = WriteReceipt & { readBack?: ReadBack };

const STORE_FAILURE: Record<StoreOperation, FailureType> = {
  configure: 'StoreConfigureFailed',
  write: 'StoreWriteFailed',
  readBack: 'StoreReadBackFailed',
  restore: 'StoreRestoreFailed',
};

function storeFailure(error: unknown): ApplicationFailure {
  if (error instanceof StoreError)
    return (error.retryable ? retryableFailure : permanentFailure)(STORE_FAILURE[error.operation], error.message);
  return retryableFailure(
    'StoreFailed',
    error instanceof Error ? `${error.name}: store operation failed` : 'store operation failed',
  );
}

/**
 * Throws until every consumer of the store runs the write behind the receipt: RolloutIncomplete
 * (retried) while the target's window lasts, then RolloutFailed, which fails verification and so
 * the round, like a store that does not read back (a replace then compensates).
 */
async function consumersRolledOut(store: PropagationStore, receipt: WriteReceipt): Promise<void> {
  let report;
  try {
    report = await store.consumersReady!(receipt);
  } catch (error) {
    throw storeFailure(error);
  }
  const pending = report.consumers.filter((consumer) => !consumer.ready);
  if (pending.length === 0) return;
  const waitedMs = Date.now() - Context.current().info.scheduledTimestampMs;
  const what = pending.map((consumer) => `${consumer.consumer}: ${consumer.detail}`).join('; ');
  if (waitedMs < report.timeoutMs)
    throw retryableFailure('RolloutIncomplete', `${store.label}: waiting for the rollout (${what})`);
  throw permanentFailure(
    'RolloutFailed',
    `${store.label}: rollout not complete after ${Math.round(waitedMs / 1000)}s (limit ${Math.round(report.timeoutMs / 1000)}s): ${what}`,
  );
}

/**
 * Writes, read-backs and restores of one propagation target each, so a failing store is
 * retried on its own and the others are not written twice. Secrets are opened from the
 * pending-secret store here, inside the activity; arguments and results carry only refs,
 * labels and fingerprints.
 */
export function createPropagationActivities(deps: PropagationDeps) {
  /** The target's store, and what it holds of the staged credential (an API token's R2 S3 keys, or itself). */
  function storeFor(
    input: StoreTarget,
  ): PropagationStore & { holding: (c: ServiceTokenCredential) => ServiceTokenCredential } {
    const { target: raw, r2 } = splitApiTokenTarget(rotationTargetsOf(deps.inventory, input)?.[input.targetIndex]);
    const holding = r2 ? r2S3Credential : (credential: ServiceTokenCredential) => credential;
    if (!raw)
      throw permanentFailure('UnknownTarget', `no propagation target #${input.targetIndex} for ${input.tokenName}`);
    const parsed = propagationTargetSchema.safeParse(raw);
    if (!parsed.success)
      throw permanentFailure('InvalidTarget', `target #${input.targetIndex} of ${input.tokenName} is invalid`);
    try {
      return Object.assign(createStore(parsed.data, deps.stores, { accountId: input.accountId }), { holding });
    } catch (error) {
      throw storeFailure(error);
    }
  }

  /**
   * Every Cloudflare write counts against the rate limit the operator's team shares, and Workers
   * and Secrets Store cannot read a value back to skip an unchanged one, so the activity tells
   * them: the credential every store was meant to hold until now is the token's `current` one, and
   * when its client id is the new one's (rotate-secret), the id needs no write. Only round 1 trusts
   * that: a round that failed may have failed because a store lost the id (readBack shows a binding
   * missing), and the next round writes everything. No current credential on record, or the
   * staged one is the current one itself: nothing is known, everything is written.
   */
  async function writeOptions(input: PropagateInput, credential: ServiceTokenCredential): Promise<WriteOptions> {
    if ((input.round ?? 1) > 1) return {};
    const current = await deps.pending.current(input);
    if (current === undefined || current.ref === input.ref) return {};
    const previous = await openStaged(deps.pending, current.ref);
    return { clientIdUnchanged: previous.clientId === credential.clientId };
  }

  return {
    /** Step 3: one store receives the staged credential. Idempotent. */
    async propagateToStore(input: PropagateInput): Promise<WriteAnswer> {
      const store = storeFor(input);
      const credential = await openStaged(deps.pending, input.ref);
      const options = await writeOptions(input, credential);
      let receipt: WriteReceipt;
      try {
        receipt = await store.write(store.holding(credential), options);
      } catch (error) {
        throw storeFailure(error);
      }
      if (!input.readBack || store.consumersReady) return receipt;
      // A read-back that fails or does not confirm yet is verify's to retry, not the write's.
      const actual = await store.readBack().catch(() => undefined);
      return actual && readBackConfirms(receipt, actual) ? { ...receipt, readBack: actual } : receipt;
    },

    /**
     * Step 4: the store still shows what the receipt says was written; retried until it does.
     * Then, for a store with consumers to restart, their rollouts have completed: each attempt
     * reads them once, and the activity's retries are the polls. The window is counted from the
     * activity's first schedule (verification began), across attempts.
     */
    async verifyStore(input: StoreTarget & { receipt: WriteReceipt }): Promise<ReadBack> {
      const store = storeFor(input);
      let actual: ReadBack;
      try {
        actual = await store.readBack();
      } catch (error) {
        throw storeFailure(error);
      }
      if (!readBackConfirms(input.receipt, actual)) {
        throw retryableFailure(
          'StoreNotUpdated',
          `${store.label} does not show the new credential (${JSON.stringify(actual)})`,
        );
      }
      if (store.consumersReady) await consumersRolledOut(store, input.receipt);
      return actual;
    },

    /** Compensation: put the previous, still valid credential back. */
    async restoreStore(input: StoreTarget & { ref: string }): Promise<void> {
      const store = storeFor(input);
      const credential = await openStaged(deps.pending, input.ref);
      try {
        await store.restore(store.holding(credential));
      } catch (error) {
        throw storeFailure(error);
      }
    },

    /**
     * Step 4 (and the emergency check): the Access-protected probe app is asked with a staged
     * credential. `accepted` fails (and is retried) until it answers 200; `rejected` until it
     * refuses.
     */
    async probeCredential(
      input: TokenKey & { ref: string; expect: 'accepted' | 'rejected' },
    ): Promise<{ status: number }> {
      const entry = findServiceToken(deps.inventory, input.accountId, input.tokenName);
      if (!entry?.token.probeUrl) throw permanentFailure('NoProbe', `${input.tokenName} has no probe URL`);
      const credential = await openStaged(deps.pending, input.ref);
      let status: number;
      try {
        const response = await (deps.fetch ?? fetch)(entry.token.probeUrl, {
          headers: { 'CF-Access-Client-Id': credential.clientId, 'CF-Access-Client-Secret': credential.clientSecret },
          signal: AbortSignal.timeout(10_000),
          redirect: 'manual',
        });
        status = response.status;
        await response.body?.cancel();
      } catch {
        throw retryableFailure('ProbeUnreachable', `probe ${new URL(entry.token.probeUrl).origin} unreachable`);
      }
      const accepted = status >= 200 && status < 300;
      if ((input.expect === 'accepted') !== accepted) {
        throw retryableFailure(
          input.expect === 'accepted' ? 'ProbeRejected' : 'ProbeStillAccepts',
          `probe answered ${status}, expected the credential to be ${input.expect}`,
        );
      }
      return { status };
    },
  };
}
