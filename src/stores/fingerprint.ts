import { createHash } from 'node:crypto';
import type { ServiceTokenCredential } from './store-types';

/**
 * The only thing about a credential that may be logged, stored or written beside it. 64 bits of
 * SHA-256 tell credentials apart without helping anyone guess them: a client secret carries far
 * more entropy than that. NUL separates the halves so ("ab","c") and ("a","bc") differ.
 */
export function fingerprintCredential(credential: ServiceTokenCredential): string {
  const digest = createHash('sha256')
    .update(credential.clientId)
    .update('\0')
    .update(credential.clientSecret)
    .digest('hex');
  return `sha256:${digest.slice(0, 16)}`;
}

/** Fingerprint of a pair read from a store; null when either half is missing. */
export function fingerprintOfHalves(clientId: string | undefined, clientSecret: string | undefined): string | null {
  if (clientId === undefined || clientSecret === undefined) return null;
  return fingerprintCredential({ clientId, clientSecret });
}
