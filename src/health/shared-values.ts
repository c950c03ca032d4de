import type { TokenKind } from './types';

/**
 * Which observation each token of a run uses. Two entries holding the same value are one token
 * to Cloudflare (token-warden's own token is often also one of the inventory's), so it is
 * observed once and its observation serves both: a second read would cost a request and
 * could only say the same thing.
 *
 * Pure: imported by workflow code.
 */
export interface ObservationSources {
  /** For each inventory token, the index of the inventory token whose observation it uses (its own index when it is observed itself). */
  tokens: number[];
  /** The inventory token whose observation is token-warden's own, or null when its own token is observed apart. */
  warden: number | null;
}

export function observationSources(
  tokens: ReadonlyArray<{ kind: TokenKind; accountId: string }>,
  fingerprints: { tokens: ReadonlyArray<string | null>; warden: string | null } | undefined,
): ObservationSources {
  const fingerprintAt = (index: number): string | null => fingerprints?.tokens[index] ?? null;
  const sources = tokens.map((token, index) => {
    const fingerprint = fingerprintAt(index);
    if (fingerprint === null) return index;
    // The same value declared twice is read once, as long as the entries agree on where it lives.
    const first = tokens.findIndex(
      (other, j) =>
        j < index &&
        fingerprintAt(j) === fingerprint &&
        other.kind === token.kind &&
        other.accountId === token.accountId,
    );
    return first < 0 ? index : first;
  });
  const warden = fingerprints?.warden ?? null;
  const shared = warden === null ? -1 : tokens.findIndex((_, index) => fingerprintAt(index) === warden);
  return { tokens: sources, warden: shared < 0 ? null : shared };
}
