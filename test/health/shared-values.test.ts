import { observationSources } from '../../src/health/shared-values';
import { HOME, OTHER } from './catalogue';

const A = 'sha256:aaaaaaaaaaaaaaaa';
const B = 'sha256:bbbbbbbbbbbbbbbb';
const account = (accountId = HOME) => ({ kind: 'account' as const, accountId });
const user = { kind: 'user' as const, accountId: HOME };

describe('observationSources: one observation per distinct token value', () => {
  it('observes every entry and token-warden apart when no values are shared', () => {
    expect(observationSources([account(), user], { tokens: [A, B], warden: 'sha256:cccccccccccccccc' })).toEqual({
      tokens: [0, 1],
      warden: null,
    });
  });

  it("uses an inventory entry's observation for token-warden's own token when they hold the same value", () => {
    expect(observationSources([account(), user], { tokens: [A, B], warden: B })).toEqual({ tokens: [0, 1], warden: 1 });
  });

  it('reads a value declared twice once, when both entries agree on its kind and account', () => {
    expect(observationSources([account(), user, account()], { tokens: [A, B, A], warden: null })).toEqual({
      tokens: [0, 1, 0],
      warden: null,
    });
    expect(observationSources([account(), account(OTHER)], { tokens: [A, A], warden: A })).toEqual({
      tokens: [0, 1],
      warden: 0,
    });
  });

  it('shares nothing without fingerprints (plans recorded before them) or for missing values', () => {
    expect(observationSources([account(), user], undefined)).toEqual({ tokens: [0, 1], warden: null });
    expect(observationSources([account(), account()], { tokens: [null, null], warden: null })).toEqual({
      tokens: [0, 1],
      warden: null,
    });
  });
});
