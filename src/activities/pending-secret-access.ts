import type { PendingSecretStore, StagedSecret } from '../secrets/pending-secrets';
import type { ServiceTokenCredential } from '../stores';
import { permanentFailure } from './failure-types';
import { describeDataError, isDataError } from './postgres-errors';

/** What the pending-secret store throws when a sealed secret does not open (see secret-box.ts). */
const UNREADABLE = /unknown key id|unable to authenticate data|authentication tag|initialization vector|bad decrypt/i;

/**
 * Opens a staged secret, telling a permanent problem from a passing one: a reference with no row
 * (or not a reference at all) and a ciphertext that does not open will never get better, so they
 * are final failures; Postgres being away is thrown as it is, for Temporal to retry.
 */
export async function openStaged(
  pending: Pick<PendingSecretStore, 'open'>,
  ref: string,
): Promise<ServiceTokenCredential> {
  try {
    return await pending.open(ref);
  } catch (error) {
    throw pendingSecretFailure(error, ref);
  }
}

/** Finds a staged secret's row; a malformed reference is final, an outage retried. */
export async function findStaged(
  pending: Pick<PendingSecretStore, 'find'>,
  ref: string,
): Promise<(StagedSecret & { accountId: string; tokenName: string }) | undefined> {
  try {
    return await pending.find(ref);
  } catch (error) {
    throw pendingSecretFailure(error, ref);
  }
}

/** An error's message, whatever realm made it (node:crypto's errors are not this realm's `Error` under a test VM). */
const messageOf = (error: unknown): string | undefined =>
  typeof error === 'object' && error !== null && typeof (error as { message?: unknown }).message === 'string'
    ? (error as { message: string }).message
    : undefined;

function pendingSecretFailure(error: unknown, ref: string): unknown {
  if (isDataError(error))
    return permanentFailure(
      'PendingSecretMissing',
      `pending secret reference ${JSON.stringify(ref)} is not valid (${describeDataError(error)})`,
    );
  const message = messageOf(error) ?? '';
  if (message.startsWith('no staged secret'))
    return permanentFailure('PendingSecretMissing', `no staged secret ${ref}: wiped, or never staged`);
  // The plaintext never reaches a message: only which ref, and what kind of problem (a JSON
  // error's message may quote what it parsed, so it is not passed on).
  if (error instanceof SyntaxError)
    return permanentFailure(
      'PendingSecretUnreadable',
      `staged secret ${ref} does not open (not a credential once decrypted)`,
    );
  if (UNREADABLE.test(message))
    return permanentFailure('PendingSecretUnreadable', `staged secret ${ref} does not open (${message})`);
  return error;
}
