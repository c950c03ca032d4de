import type { ReadBack, WriteReceipt } from './store-types';

/**
 * Whether a store's read-back still shows the write behind a receipt, comparing only evidence of
 * the same kind. How much a `true` proves depends on that kind (see readBackSchema): a value
 * fingerprint proves the value, `written-at` only that no older write replaced ours, `presence`
 * only that the secrets exist.
 */
export function readBackConfirms(receipt: WriteReceipt, actual: ReadBack): boolean {
  const expected = receipt.expected;
  switch (expected.evidence) {
    case 'fingerprint':
    case 'recorded-fingerprint':
      return actual.evidence === expected.evidence && actual.fingerprint === receipt.fingerprint;
    case 'written-at':
      return (
        actual.evidence === 'written-at' &&
        actual.writtenAt !== null &&
        expected.writtenAt !== null &&
        Date.parse(actual.writtenAt) >= Date.parse(expected.writtenAt)
      );
    case 'presence':
      return actual.evidence === 'presence' && actual.present;
  }
}
