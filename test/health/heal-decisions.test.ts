import type { HealApplied } from '../../src/activities/token-health';
import { evaluateToken } from '../../src/health/evaluate';
import {
  decideHeal,
  healAnswered,
  healEditor,
  healUpdateFailed,
  verifyHeal,
  type HealDecision,
  type HealFacts,
} from '../../src/health/heal-decisions';
import { PermissionCatalogue } from '../../src/health/permissions';
import type { InventoryTokenRef, TokenPolicy } from '../../src/health/types';
import { groupNamed, HOME, TEST_GROUPS, USER_ID } from './catalogue';
import { observation } from './observation';

const catalogue = new PermissionCatalogue(TEST_GROUPS);
const context = { catalogue, now: Date.parse('2025-11-13T19:00:00.000Z'), baseURL: 'https://api.example/client/v4' };
const ON_HOME = { [`com.cloudflare.api.account.${HOME}`]: '*' } as const;
const ON_USER = { [`com.cloudflare.api.user.${USER_ID}`]: '*' } as const;

const accountRef: InventoryTokenRef = {
  accountId: HOME,
  name: 'deploy',
  kind: 'account',
  configuredId: null,
  requiredPermissions: ['Workers Scripts: Edit', 'D1: Edit'],
};

const policy = (effect: 'allow' | 'deny', names: string[], resources: TokenPolicy['resources']): TokenPolicy => ({
  effect,
  permission_groups: names.map((n) => ({ id: groupNamed(n).id })),
  resources,
});

const NO_WARDEN = observation(null, { accepted: null });
const wardenWith = (policies: TokenPolicy[]) => observation(policies, { kind: 'user' });
const VALID = { isValid: true, isActive: true };

function facts(policies: TokenPolicy[] | null, overrides: Partial<HealFacts> = {}): HealFacts {
  const obs = overrides.observation ?? observation(policies);
  return {
    ref: accountRef,
    token: evaluateToken(accountRef, obs, context),
    observation: obs,
    catalogue,
    wardenObservation: NO_WARDEN,
    selfAudit: VALID,
    dryRun: false,
    ...overrides,
  };
}

function updating(decision: HealDecision) {
  if (decision.action !== 'update') throw new Error(`expected an update, got: ${decision.outcome.message}`);
  return decision;
}

/** A token that may edit itself and misses D1 Write. */
const selfEditing = () => facts([policy('allow', ['Workers Scripts Write', 'Account API Tokens Write'], ON_HOME)]);

describe('heal decisions', () => {
  it('refuses an invalid token without any call', () => {
    const decision = decideHeal(facts(null, { observation: observation(null, { accepted: false }) }));
    expect(decision.action).toBe('done');
    expect(decision.outcome).toMatchObject({ success: false, updated: false, via: null });
    expect(decision.outcome.message).toMatch(/^Cannot heal: the token is invalid or inactive/);
  });

  it('refuses a token whose permissions could not be read', () => {
    const obs = observation(null, { readProblem: 'HTTP 403: no read access' });
    const decision = decideHeal(facts(null, { observation: obs }));
    expect(decision.action).toBe('done');
    expect(decision.outcome.message).toMatch(/^Cannot heal: /);
  });

  it('reports a permission a deny blocks and adds nothing', () => {
    const decision = decideHeal(
      facts([
        policy('allow', ['Workers Scripts Write', 'Account API Tokens Write'], ON_HOME),
        policy('deny', ['D1 Write'], ON_HOME),
      ]),
    );
    expect(decision.action).toBe('done');
    expect(decision.outcome.notAdded).toEqual([
      { permission: 'D1: Edit', reason: 'a deny policy blocks it; heal never edits or removes policies' },
    ]);
    expect(decision.outcome).toMatchObject({
      success: false,
      message: expect.stringMatching(/^Could not add D1: Edit \(/),
    });
  });

  it('names a requirement no permission group has as not addable', () => {
    const ref = { ...accountRef, requiredPermissions: ['Workers Scripts: Edit', 'Teleport: Edit'] };
    const obs = observation([policy('allow', ['Workers Scripts Write'], ON_HOME)]);
    const decision = decideHeal(facts(null, { ref, observation: obs, token: evaluateToken(ref, obs, context) }));
    expect(decision.outcome.notAdded).toEqual([
      { permission: 'Teleport: Edit', reason: 'no permission group of that name exists' },
    ]);
  });

  it('in a dry run says what it would add and sends nothing', () => {
    const decision = decideHeal({ ...selfEditing(), dryRun: true });
    expect(decision.action).toBe('done');
    expect(decision.outcome).toMatchObject({
      success: true,
      dryRun: true,
      wouldAdd: ['com.cloudflare.api.account.d1:edit'],
      message: 'Dry run: would add 1 missing permissions',
    });
  });

  it('has nothing to do for a healthy token', () => {
    const decision = decideHeal(facts([policy('allow', ['Workers Scripts Write', 'D1 Write'], ON_HOME)]));
    expect(decision.outcome).toMatchObject({ success: true, message: 'Successfully added 0 missing permissions' });
  });

  it('lets the token edit itself when it may, else token-warden when valid, else no one', () => {
    expect(updating(decideHeal(selfEditing())).update).toMatchObject({ via: 'self', missingNames: 'D1: Edit' });

    const plain = [policy('allow', ['Workers Scripts Write'], ON_HOME)];
    const warden = wardenWith([policy('allow', ['Account API Tokens Write'], ON_HOME)]);
    expect(updating(decideHeal(facts(plain, { wardenObservation: warden }))).update.via).toBe('warden');

    const expired = decideHeal(facts(plain, { wardenObservation: warden, selfAudit: { ...VALID, isActive: false } }));
    expect(expired.action).toBe('done');
    expect(expired.outcome.message).toBe(
      "Neither the token nor token-warden's own token holds Account API Tokens Write, so no one may edit it. Grant Account API Tokens Write (Account API Tokens: Edit in the dashboard) to one of them, or add D1: Edit in the Cloudflare dashboard",
    );
    expect(healEditor(accountRef, plain, warden, VALID, catalogue)).toBe('warden');
    expect(healEditor(accountRef, plain, NO_WARDEN, VALID, catalogue)).toBeNull();
  });

  it('scopes user permissions with the user id of token-warden when the token has none', () => {
    const ref: InventoryTokenRef = { ...accountRef, kind: 'user', requiredPermissions: ['Memberships: Edit'] };
    const obs = observation([policy('allow', ['API Tokens Write'], { 'com.cloudflare.api.user.*': '*' })]);
    const base = { ref, observation: obs, token: evaluateToken(ref, obs, context) };
    expect(decideHeal(facts(null, base)).outcome).toMatchObject({
      success: false,
      notAdded: [{ permission: 'Memberships: Edit', reason: 'no user id is known to scope it to' }],
    });
    const withWarden = updating(
      decideHeal(facts(null, { ...base, wardenObservation: wardenWith([policy('allow', ['Zone Read'], ON_USER)]) })),
    );
    expect(withWarden.update.userResourceKey).toBe(`com.cloudflare.api.user.${USER_ID}`);
  });
});

describe('heal endings', () => {
  const applied: HealApplied = {
    updated: true,
    added: [groupNamed('D1 Write')],
    alreadyPresent: [],
    blocked: [],
    refusal: null,
  };

  it('a failed update tells where to add the permissions by hand', () => {
    const { outcome, update } = updating(decideHeal(selfEditing()));
    expect(healUpdateFailed(outcome, update, 'HTTP 500').message).toBe(
      'The update failed: HTTP 500. Add D1: Edit in the Cloudflare dashboard or run heal again',
    );
  });

  it('a refusal names the credential that was refused', () => {
    const { outcome, update } = updating(decideHeal(selfEditing()));
    const refusal = { httpStatus: 403, message: 'HTTP 403: forbidden' };
    const answered = healAnswered(outcome, update, 'account', { ...applied, refusal });
    expect(answered.refused).toBe(true);
    expect(answered.outcome).toMatchObject({ success: false, updated: false, via: 'self', permissionsAdded: [] });
    expect(answered.outcome.message).toBe(
      'Cloudflare refused the update (HTTP 403: forbidden). Grant Account API Tokens Write to the token, or add D1: Edit in the Cloudflare dashboard',
    );
  });

  function verified(readBackPolicies: TokenPolicy[] | null, alreadyPresent = applied.alreadyPresent) {
    const input = selfEditing();
    const { outcome, update } = updating(decideHeal(input));
    const answered = healAnswered(outcome, update, 'account', { ...applied, alreadyPresent });
    const snapshot = readBackPolicies && { ...update.snapshot, policies: readBackPolicies };
    return verifyHeal(input, context, answered.outcome, update, {
      snapshot,
      problem: snapshot ? null : 'HTTP 502',
    });
  }
  const before = selfEditing().observation.snapshot!.policies;
  const d1 = policy('allow', ['D1 Write'], ON_HOME);

  it('succeeds when the read-back grants everything and keeps every policy', () => {
    const { outcome, token } = verified([...before, d1]);
    expect(outcome).toMatchObject({
      success: true,
      updated: true,
      permissionsAdded: ['com.cloudflare.api.account.d1:edit'],
      message: 'Successfully added 1 missing permissions',
    });
    expect(token.state).toBe('healthy');
  });

  it('counts groups an earlier attempt already added', () => {
    const { outcome } = verified([...before, d1], [groupNamed('Workers Scripts Write')]);
    expect(outcome.message).toBe(
      'Successfully added 1 missing permissions (1 found already added by an earlier attempt)',
    );
  });

  it('fails when the read-back fails, lost a policy or still misses a permission', () => {
    const unread = verified(null);
    expect(unread.outcome).toMatchObject({
      success: false,
      message: expect.stringContaining('read-back failed (HTTP 502)'),
    });
    expect(unread.token.state).toBe('degraded');
    expect(verified([d1]).outcome.message).toBe(
      'Updated, but the read-back lost a policy the token had; check it in the Cloudflare dashboard',
    );
    expect(verified([...before]).outcome.message).toBe('Updated, but D1: Edit still missing on read-back');
  });
});
