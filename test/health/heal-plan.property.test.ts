import fc from 'fast-check';
import { lostPolicies, planHeal, samePolicy } from '../../src/health/heal-plan';
import { evaluateRequirements, grantTarget, PermissionCatalogue } from '../../src/health/permissions';
import { deepFreeze } from '../../src/config';
import type { PermissionGroupInfo, TokenKind, TokenPolicy, TokenResources } from '../../src/health/types';
import { HOME, OTHER, TEST_GROUPS, USER_ID, ZONE_ID } from './catalogue';

const catalogue = new PermissionCatalogue(TEST_GROUPS);
const ACCOUNT_KEY = (id: string) => `com.cloudflare.api.account.${id}`;
const USER_KEY = `com.cloudflare.api.user.${USER_ID}`;

/** Resource values heal must never widen: other accounts, wildcards, single zones, nested zone maps. */
const resourceEntry = fc.oneof(
  fc.constantFrom<[string, TokenResources[string]]>(
    [ACCOUNT_KEY(HOME), '*'],
    [ACCOUNT_KEY(OTHER), '*'],
    ['com.cloudflare.api.account.*', '*'],
    [`com.cloudflare.api.account.zone.${ZONE_ID}`, '*'],
    ['com.cloudflare.api.account.zone.*', '*'],
    [USER_KEY, '*'],
    ['com.cloudflare.api.user.*', '*'],
  ),
  fc.tuple(
    fc.constantFrom(ACCOUNT_KEY(HOME), ACCOUNT_KEY(OTHER)),
    fc.constantFrom(
      { [`com.cloudflare.api.account.zone.${ZONE_ID}`]: '*' },
      { 'com.cloudflare.api.account.zone.*': '*' },
    ),
  ),
);

const policy: fc.Arbitrary<TokenPolicy> = fc.record({
  id: fc.uuid().map((u) => u.replace(/-/g, '')),
  effect: fc.constantFrom<'allow' | 'deny'>('allow', 'allow', 'allow', 'deny'),
  permission_groups: fc
    .uniqueArray(fc.constantFrom(...TEST_GROUPS), { minLength: 1, maxLength: 4, selector: (g) => g.id })
    .map((groups) => groups.map((g) => ({ id: g.id, name: g.name }))),
  resources: fc
    .uniqueArray(resourceEntry, { minLength: 1, maxLength: 3, selector: ([key]) => key })
    .map((entries) => Object.fromEntries(entries)),
});

const scenario = fc.record({
  kind: fc.constantFrom<TokenKind>('account', 'user'),
  policies: fc.array(policy, { maxLength: 6 }),
  required: fc.uniqueArray(fc.constantFrom(...TEST_GROUPS.map((g) => g.name)), { maxLength: 8 }),
  userResourceKey: fc.constantFrom<string | null>(USER_KEY, null),
});

/** (effect, group, resource key, value) facts a policy list grants or denies. */
function facts(
  policies: readonly { effect: string; permission_groups: readonly { id: string }[]; resources: TokenResources }[],
): Set<string> {
  const out = new Set<string>();
  for (const p of policies)
    for (const g of p.permission_groups)
      for (const [key, value] of Object.entries(p.resources)) out.add(JSON.stringify([p.effect, g.id, key, value]));
  return out;
}

function missingGroups(s: {
  kind: TokenKind;
  policies: readonly TokenPolicy[];
  required: readonly string[];
}): PermissionGroupInfo[] {
  return evaluateRequirements(s.required, s.policies, { kind: s.kind, accountId: HOME, catalogue })
    .filter((r) => r.state === 'missing')
    .flatMap((r) => (r.group ? [r.group] : []));
}

describe('heal plan (property)', () => {
  it('keeps every existing policy exactly and in order, and only appends', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const policies = deepFreeze(structuredClone(s.policies));
        const plan = planHeal(policies, missingGroups(s), {
          kind: s.kind,
          accountId: HOME,
          userResourceKey: s.userResourceKey,
        });
        expect(plan.policies.length).toBeGreaterThanOrEqual(policies.length);
        policies.forEach((p, i) => {
          const sent = plan.policies[i];
          expect(sent && samePolicy(p, sent)).toBe(true);
          expect(sent?.resources).toEqual(p.resources);
        });
        expect(policies).toEqual(s.policies);
      }),
      { numRuns: 400 },
    );
  });

  it('never removes a permission group nor widens any resource scope', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const missing = missingGroups(s);
        const plan = planHeal(s.policies, missing, {
          kind: s.kind,
          accountId: HOME,
          userResourceKey: s.userResourceKey,
        });
        const before = facts(s.policies);
        const after = facts(plan.policies);
        for (const fact of before) expect(after.has(fact)).toBe(true);
        const missingIds = new Set(missing.map((g) => g.id));
        for (const fact of after) {
          if (before.has(fact)) continue;
          const [effect, groupId, key, value] = JSON.parse(fact) as [string, string, string, unknown];
          // Anything new is an allow of a group that was missing, on that group's own target.
          expect(effect).toBe('allow');
          expect(missingIds.has(groupId)).toBe(true);
          const group = TEST_GROUPS.find((g) => g.id === groupId);
          if (!group) throw new Error('unknown group');
          const target = grantTarget(group, HOME);
          if (target.kind === 'account') expect([key, value]).toEqual([ACCOUNT_KEY(HOME), '*']);
          if (target.kind === 'zones')
            expect([key, value]).toEqual([ACCOUNT_KEY(HOME), { 'com.cloudflare.api.account.zone.*': '*' }]);
          if (target.kind === 'user') {
            expect(s.kind).toBe('user');
            expect([key, value]).toEqual([s.userResourceKey, '*']);
          }
        }
        expect(
          lostPolicies(
            s.policies,
            plan.policies.map((p) => ({ ...p })),
          ),
        ).toEqual([]);
      }),
      { numRuns: 400 },
    );
  });

  it('leaves nothing healable missing, keeps what was present, and is idempotent', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const context = { kind: s.kind, accountId: HOME, catalogue };
        const before = evaluateRequirements(s.required, s.policies, context);
        const plan = planHeal(s.policies, missingGroups(s), {
          kind: s.kind,
          accountId: HOME,
          userResourceKey: s.userResourceKey,
        });
        const healed: TokenPolicy[] = plan.policies.map((p) => ({ ...p }));
        const after = evaluateRequirements(s.required, healed, context);
        const added = new Set(plan.added.map((g) => g.id));
        before.forEach((requirement, i) => {
          const now = after[i]?.state;
          if (requirement.state === 'present') expect(now).toBe('present');
          if (requirement.state === 'denied' || requirement.state === 'unavailable' || requirement.state === 'unknown')
            expect(now).toBe(requirement.state);
          if (requirement.state === 'missing' && requirement.group && added.has(requirement.group.id))
            expect(now).toBe('present');
        });
        const again = planHeal(healed, missingGroups({ ...s, policies: healed }), {
          kind: s.kind,
          accountId: HOME,
          userResourceKey: s.userResourceKey,
        });
        expect(again.added).toEqual([]);
        expect(again.policies.length).toBe(healed.length);
      }),
      { numRuns: 300 },
    );
  });
});
