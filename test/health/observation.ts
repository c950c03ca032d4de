import type { TokenObservation, TokenPolicy } from '../../src/health/types';

/** What the check learns of a valid token that reads itself, with these policies (null: unread). */
export function observation(
  policies: TokenPolicy[] | null,
  overrides: Partial<TokenObservation> = {},
): TokenObservation {
  return {
    fingerprint: 'sha256:0000000000000000',
    secret: 'present',
    secretSource: 'environment variable X',
    tokenId: 'f'.repeat(32),
    accepted: true,
    verified: null,
    refusal: null,
    snapshot: policies && {
      id: 'f'.repeat(32),
      name: 't',
      status: 'active',
      issuedOn: null,
      modifiedOn: null,
      notBefore: null,
      expiresOn: null,
      policies,
      condition: null,
    },
    readVia: 'self',
    readProblem: null,
    kind: null,
    ...overrides,
  };
}
