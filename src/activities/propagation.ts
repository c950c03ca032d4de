import { ApplicationFailure } from '@temporalio/activity';
import type { Inventory } from '../config';
import { findServiceToken } from '../inventory';
import type { PendingSecretStore, TokenKey } from '../secrets/pending-secrets';
import { createStore, propagationTargetSchema, readBackConfirms, StoreError, type PropagationStore, type ReadBack, type StoreDeps, type WriteReceipt } from '../stores';

export interface PropagationDeps {
  inventory: Pick<Inventory, 'accounts'>;
  pending: Pick<PendingSecretStore, 'open'>;
  stores: StoreDeps;
  /** The probe's HTTP client; tests may point it anywhere on loopback. */
  fetch?: typeof fetch;
}

export interface StoreTarget extends TokenKey {
  targetIndex: number;
}

function storeFailure(error: unknown): ApplicationFailure {
  if (error instanceof StoreError) {
    return ApplicationFailure.create({ message: error.message, type: `Store${error.operation[0]!.toUpperCase()}${error.operation.slice(1)}Failed`, nonRetryable: !error.retryable });
  }
  return ApplicationFailure.create({ message: error instanceof Error ? `${error.name}: store operation failed` : 'store operation failed', type: 'StoreFailed' });
}

/**
 * Writes, read-backs and restores of one propagation target each, so a failing store is
 * retried on its own and the others are not written twice. Secrets are opened from the
 * pending-secret store here, inside the activity; arguments and results carry only refs,
 * labels and fingerprints.
 */
export function createPropagationActivities(deps: PropagationDeps) {
  function storeFor(input: StoreTarget): PropagationStore {
    const entry = findServiceToken(deps.inventory, input.accountId, input.tokenName);
    const raw = entry?.token.targets[input.targetIndex];
    if (!entry || !raw) throw ApplicationFailure.create({ message: `no propagation target #${input.targetIndex} for ${input.tokenName}`, type: 'UnknownTarget', nonRetryable: true });
    const parsed = propagationTargetSchema.safeParse(raw);
    if (!parsed.success) throw ApplicationFailure.create({ message: `target #${input.targetIndex} of ${input.tokenName} is invalid`, type: 'InvalidTarget', nonRetryable: true });
    try {
      return createStore(parsed.data, deps.stores, { accountId: input.accountId });
    } catch (error) {
      throw storeFailure(error);
    }
  }

  return {
    /** Step 3: one store receives the staged credential. Idempotent. */
    async propagateToStore(input: StoreTarget & { ref: string }): Promise<WriteReceipt> {
      const store = storeFor(input);
      const credential = await deps.pending.open(input.ref);
      try {
        return await store.write(credential);
      } catch (error) {
        throw storeFailure(error);
      }
    },

    /** Step 4: the store still shows what the receipt says was written; retried until it does. */
    async verifyStore(input: StoreTarget & { receipt: WriteReceipt }): Promise<ReadBack> {
      const store = storeFor(input);
      let actual: ReadBack;
      try {
        actual = await store.readBack();
      } catch (error) {
        throw storeFailure(error);
      }
      if (!readBackConfirms(input.receipt, actual)) {
        throw ApplicationFailure.create({ message: `${store.label} does not show the new credential (${JSON.stringify(actual)})`, type: 'StoreNotUpdated' });
      }
      return actual;
    },

    /** Compensation: put the previous, still valid credential back. */
    async restoreStore(input: StoreTarget & { ref: string }): Promise<void> {
      const store = storeFor(input);
      const credential = await deps.pending.open(input.ref);
      try {
        await store.restore(credential);
      } catch (error) {
        throw storeFailure(error);
      }
    },

    /**
     * Step 4 (and the emergency check): the Access-protected probe app is asked with a staged
     * credential. `accepted` fails (and is retried) until it answers 200; `rejected` until it
     * refuses.
     */
    async probeCredential(input: TokenKey & { ref: string; expect: 'accepted' | 'rejected' }): Promise<{ status: number }> {
      const entry = findServiceToken(deps.inventory, input.accountId, input.tokenName);
      if (!entry?.token.probeUrl) throw ApplicationFailure.create({ message: `${input.tokenName} has no probe URL`, type: 'NoProbe', nonRetryable: true });
      const credential = await deps.pending.open(input.ref);
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
        throw ApplicationFailure.create({ message: `probe ${new URL(entry.token.probeUrl).origin} unreachable`, type: 'ProbeUnreachable' });
      }
      const accepted = status >= 200 && status < 300;
      if ((input.expect === 'accepted') !== accepted) {
        throw ApplicationFailure.create({ message: `probe answered ${status}, expected the credential to be ${input.expect}`, type: input.expect === 'accepted' ? 'ProbeRejected' : 'ProbeStillAccepts' });
      }
      return { status };
    },
  };
}
