import type { EncryptionKeys } from '../../src/temporal/codec';

/**
 * The payload key of the recorded histories in ./histories. Test data only: the histories hold
 * simulator ids and fingerprints, never a secret, and this key guards nothing real.
 */
export const REPLAY_FIXTURE_KEYS: EncryptionKeys = {
  currentKeyId: 'replay-fixture',
  keys: new Map([['replay-fixture', Buffer.from('56ifa+J4uwEsGxpNjgmyiRolc5d8qf0zdOW3byBdvZk=', 'base64')]]),
};
