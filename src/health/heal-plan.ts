import { accountResourceKey, grantTarget, grants, resourcesCover, type GrantTarget } from './permissions';
import type { PermissionGroupInfo, TokenKind, TokenPolicy, TokenPolicyInput, TokenResources } from './types';

/**
 * The add-only merge behind heal.
 *
 * Cloudflare's token update is a full replace, so heal sends every policy it read, unchanged
 * (only the read-only `id` and group `name` fields are dropped), and appends new allow
 * policies holding nothing but the missing groups, each on the one resource the group
 * needs on the token's own account or user. It never edits an existing policy: adding a
 * group to a policy would grant it on that policy's resources, which may be wider (another
 * account, `*`) than the inventory declares. Deny policies stay as they are, so a
 * permission a deny blocks is reported, not forced.
 */
export interface HealPlan {
  /** The full policy list to send. */
  policies: TokenPolicyInput[];
  /** Groups the appended policies add. */
  added: PermissionGroupInfo[];
  /** Groups already granted on their target (nothing to add). */
  alreadyPresent: PermissionGroupInfo[];
  /** Groups heal cannot add, and why. */
  blocked: Array<{ group: PermissionGroupInfo; reason: string }>;
}

export interface HealContext {
  kind: TokenKind;
  accountId: string;
  /** `com.cloudflare.api.user.<id>` for user-scoped groups: from the token's policies or token-warden's own. */
  userResourceKey: string | null;
}

const toInput = (policy: TokenPolicy): TokenPolicyInput => ({
  effect: policy.effect,
  permission_groups: policy.permission_groups.map((g) => (g.meta ? { id: g.id, meta: { ...g.meta } } : { id: g.id })),
  resources: copyResources(policy.resources),
});

/** A deep copy (values are `"*"` or one level of zone map); no structuredClone in the workflow sandbox. */
const copyResources = (resources: TokenResources): TokenResources =>
  Object.fromEntries(
    Object.entries(resources).map(([key, value]) => [key, typeof value === 'string' ? value : { ...value }]),
  );

/** The resources of the policy heal appends for groups of one target. */
export function healResources(target: GrantTarget, userResourceKey: string | null): TokenResources | null {
  switch (target.kind) {
    case 'account':
      return { [accountResourceKey(target.accountId)]: '*' };
    case 'zones':
      return { [accountResourceKey(target.accountId)]: { 'com.cloudflare.api.account.zone.*': '*' } };
    case 'user':
      return userResourceKey ? { [userResourceKey]: '*' } : null;
  }
}

const deniedOn = (policies: readonly TokenPolicy[], groupId: string, target: GrantTarget): boolean =>
  policies.some(
    (p) =>
      p.effect === 'deny' && p.permission_groups.some((g) => g.id === groupId) && resourcesCover(p.resources, target),
  );

const targetKey = (target: GrantTarget): string =>
  target.kind === 'user' ? 'user' : `${target.kind}:${target.accountId}`;

export function planHeal(
  policies: readonly TokenPolicy[],
  missing: readonly PermissionGroupInfo[],
  context: HealContext,
): HealPlan {
  const plan: HealPlan = { policies: policies.map(toInput), added: [], alreadyPresent: [], blocked: [] };
  const appended = new Map<string, { target: GrantTarget; groups: PermissionGroupInfo[] }>();
  const seen = new Set<string>();
  for (const group of missing) {
    if (seen.has(group.id)) continue;
    seen.add(group.id);
    const target = grantTarget(group, context.accountId);
    if (target.kind === 'user' && context.kind === 'account') {
      plan.blocked.push({ group, reason: 'account-owned tokens cannot hold user permissions' });
      continue;
    }
    const ids = new Set([group.id]);
    if (grants(policies, ids, target)) {
      plan.alreadyPresent.push(group);
      continue;
    }
    if (deniedOn(policies, group.id, target)) {
      plan.blocked.push({ group, reason: 'a deny policy blocks it; heal never edits or removes policies' });
      continue;
    }
    if (target.kind === 'user' && !context.userResourceKey) {
      plan.blocked.push({ group, reason: 'no user id is known to scope it to' });
      continue;
    }
    const key = targetKey(target);
    const entry = appended.get(key) ?? { target, groups: [] };
    entry.groups.push(group);
    appended.set(key, entry);
  }
  for (const { target, groups } of appended.values()) {
    const resources = healResources(target, context.userResourceKey);
    if (!resources) continue;
    plan.policies.push({ effect: 'allow', permission_groups: groups.map((g) => ({ id: g.id })), resources });
    plan.added.push(...groups);
  }
  return plan;
}

/** Compares policies as heal must keep them: same order, same effect, groups and resources. */
export function samePolicy(a: TokenPolicy | TokenPolicyInput, b: TokenPolicy | TokenPolicyInput): boolean {
  return (
    a.effect === b.effect &&
    a.permission_groups.length === b.permission_groups.length &&
    a.permission_groups.every((g, i) => g.id === b.permission_groups[i]?.id) &&
    canonical(a.resources) === canonical(b.resources)
  );
}

function canonical(resources: TokenResources): string {
  const sorted = Object.keys(resources)
    .sort()
    .map((key) => {
      const value = resources[key];
      return [
        key,
        typeof value === 'string'
          ? value
          : Object.fromEntries(Object.entries(value ?? {}).sort(([x], [y]) => x.localeCompare(y))),
      ];
    });
  return JSON.stringify(sorted);
}

/**
 * After an update: every policy that was there before is still there, unchanged and in
 * order (Cloudflare may assign new policy ids; ids are not compared). Returns what is gone.
 */
export function lostPolicies(before: readonly TokenPolicy[], after: readonly TokenPolicy[]): TokenPolicy[] {
  const remaining = [...after];
  const lost: TokenPolicy[] = [];
  for (const policy of before) {
    const index = remaining.findIndex((candidate) => samePolicy(policy, candidate));
    if (index < 0) lost.push(policy);
    else remaining.splice(index, 1);
  }
  return lost;
}
