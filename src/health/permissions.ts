import type { PermissionGroupInfo, TokenKind, TokenPolicy, TokenResources } from './types';

export const ACCOUNT_SCOPE = 'com.cloudflare.api.account';
export const ZONE_SCOPE = 'com.cloudflare.api.account.zone';
export const USER_SCOPE = 'com.cloudflare.api.user';

const ACCOUNT_PREFIX = `${ACCOUNT_SCOPE}.`;
const ZONE_PREFIX = `${ZONE_SCOPE}.`;
const USER_PREFIX = `${USER_SCOPE}.`;
const ALL_ZONES = `${ZONE_PREFIX}*`;

export const accountResourceKey = (accountId: string): string => `${ACCOUNT_PREFIX}${accountId}`;

/** Dashboard product labels whose API group is named differently. */
const LABEL_ALIASES: Readonly<Record<string, string>> = {
  'cloudflare pages': 'Pages',
  'workers d1 storage': 'D1',
  'd1 storage': 'D1',
};

/**
 * The API's group name for a permission as the inventory may write it: the dashboard label
 * ("Workers Scripts: Edit", the seed's spelling) becomes "Workers Scripts Write"; an API
 * name ("Workers Scripts Write") is kept.
 */
export function apiGroupName(permission: string): string {
  const trimmed = permission.trim().replace(/\s+/g, ' ');
  const match = /^(.*?):\s*(Edit|Write|Read)$/i.exec(trimmed);
  if (!match) return trimmed;
  const product = match[1] ?? '';
  const level = (match[2] ?? '').toLowerCase() === 'read' ? 'Read' : 'Write';
  return `${LABEL_ALIASES[product.toLowerCase()] ?? product} ${level}`;
}

export const isUserScopedGroup = (group: PermissionGroupInfo): boolean =>
  group.scopes.length > 0 && group.scopes.every((s) => s === USER_SCOPE);
const isZoneOnlyGroup = (group: PermissionGroupInfo): boolean =>
  group.scopes.length > 0 && group.scopes.every((s) => s === ZONE_SCOPE);

export type Resolution =
  | { kind: 'resolved'; group: PermissionGroupInfo }
  /** No group of that name in the listing. */
  | { kind: 'unknown' }
  /** The group exists but only for user tokens, and this is an account-owned token. */
  | { kind: 'unavailable'; group: PermissionGroupInfo };

/** Permission names → groups, built once per run from the single listing. */
export class PermissionCatalogue {
  private readonly byName = new Map<string, PermissionGroupInfo[]>();
  private readonly byId = new Map<string, PermissionGroupInfo>();

  constructor(readonly groups: readonly PermissionGroupInfo[]) {
    for (const group of groups) {
      this.byId.set(group.id, group);
      const key = group.name.toLowerCase();
      this.byName.set(key, [...(this.byName.get(key) ?? []), group]);
    }
  }

  byGroupId(id: string): PermissionGroupInfo | undefined {
    return this.byId.get(id);
  }

  /** Cloudflare repeats some names across scopes: prefer the one a token of this kind can hold. */
  resolve(permission: string, kind: TokenKind): Resolution {
    const candidates =
      this.byName.get(apiGroupName(permission).toLowerCase()) ?? this.byName.get(permission.trim().toLowerCase()) ?? [];
    const usable = kind === 'account' ? candidates.filter((g) => !isUserScopedGroup(g)) : candidates;
    const preferred = usable.find((g) => !isUserScopedGroup(g) === (kind === 'account')) ?? usable[0];
    if (preferred) return { kind: 'resolved', group: preferred };
    const [first] = candidates;
    return first ? { kind: 'unavailable', group: first } : { kind: 'unknown' };
  }

  /** The first group of these names that exists (e.g. "API Tokens Write" or its read twin). */
  idsOf(names: readonly string[]): Set<string> {
    return new Set(names.flatMap((name) => (this.byName.get(name.toLowerCase()) ?? []).map((g) => g.id)));
  }
}

/**
 * The seed's permission keys (`com.cloudflare.api.account.workers.script:edit`): the group's
 * scope, a dotted product slug and the access level (Write → `edit`, Read → `read`). Groups
 * the seed names have fixed slugs; any other group gets its product words in snake case,
 * with a colon in the name ("Access: Service Tokens") becoming a dot.
 */
const PRODUCT_SLUGS: Readonly<Record<string, string>> = {
  'workers scripts': 'workers.script',
  'workers kv storage': 'workers.kv',
  d1: 'd1',
  'workers r2 storage': 'workers.r2',
  'workers ai': 'workers.ai',
  'ai gateway': 'ai_gateway',
  queues: 'queues',
  vectorize: 'vectorize',
  hyperdrive: 'hyperdrive',
  'workers tail': 'workers.tail',
  pages: 'pages',
  'cloudflare images': 'images',
  'cloudflare tunnel': 'tunnel',
  'workers analytics engine': 'workers.analytics_engine',
  'api tokens': 'tokens',
  'account api tokens': 'tokens',
};

export function permissionKey(group: Pick<PermissionGroupInfo, 'name' | 'scopes'>): string {
  const scope = group.scopes.includes(ACCOUNT_SCOPE)
    ? ACCOUNT_SCOPE
    : group.scopes.includes(ZONE_SCOPE)
      ? ZONE_SCOPE
      : group.scopes.includes(USER_SCOPE)
        ? USER_SCOPE
        : (group.scopes[0] ?? 'com.cloudflare.api');
  const words = group.name.trim().split(/\s+/);
  const last = words.length > 1 ? (words.at(-1) ?? '') : '';
  const level = /^write$/i.test(last) ? 'edit' : last.toLowerCase() || 'use';
  const product = (last ? words.slice(0, -1) : words).join(' ');
  const slug =
    PRODUCT_SLUGS[product.toLowerCase()] ??
    product
      .replace(/^cloudflare\s+/i, '')
      .split(':')
      .map((part) =>
        part
          .trim()
          .toLowerCase()
          .replace(/[^a-z0-9]+/g, '_')
          .replace(/^_+|_+$/g, ''),
      )
      .filter(Boolean)
      .join('.');
  return `${scope}.${slug}:${level}`;
}

/** Where a group must be granted for the token to have it: what heal would add, and no more. */
export type GrantTarget =
  | { kind: 'account'; accountId: string }
  /** Every zone of the account. */
  | { kind: 'zones'; accountId: string }
  | { kind: 'user' };

export function grantTarget(group: PermissionGroupInfo, accountId: string): GrantTarget {
  if (isUserScopedGroup(group)) return { kind: 'user' };
  if (isZoneOnlyGroup(group)) return { kind: 'zones', accountId };
  return { kind: 'account', accountId };
}

/** Whether the resources reach the whole target (a narrower grant is not the declared one). */
export function resourcesCover(resources: TokenResources, target: GrantTarget): boolean {
  const at = (key: string) => resources[key];
  const accountWide = (accountId: string) =>
    at(accountResourceKey(accountId)) === '*' || at(`${ACCOUNT_PREFIX}*`) === '*';
  switch (target.kind) {
    case 'account':
      return accountWide(target.accountId);
    case 'zones': {
      if (accountWide(target.accountId) || at(ALL_ZONES) === '*') return true;
      return [accountResourceKey(target.accountId), `${ACCOUNT_PREFIX}*`].some((key) => {
        const value = at(key);
        return typeof value === 'object' && value[ALL_ZONES] === '*';
      });
    }
    case 'user':
      return Object.entries(resources).some(([key, value]) => key.startsWith(USER_PREFIX) && value === '*');
  }
}

/** A user resource key naming a specific user (`com.cloudflare.api.user.<id>`), if any policy has one. */
export function userResourceKeyIn(policies: readonly TokenPolicy[]): string | null {
  for (const policy of policies) {
    for (const key of Object.keys(policy.resources)) {
      if (key.startsWith(USER_PREFIX) && key !== `${USER_PREFIX}*`) return key;
    }
  }
  return null;
}

function policiesGrant(
  policies: readonly TokenPolicy[],
  effect: 'allow' | 'deny',
  groupIds: ReadonlySet<string>,
  target: GrantTarget,
): boolean {
  return policies.some(
    (p) =>
      p.effect === effect && p.permission_groups.some((g) => groupIds.has(g.id)) && resourcesCover(p.resources, target),
  );
}

/** Like Cloudflare: an allow that reaches the target, and no deny that does. */
export function grants(policies: readonly TokenPolicy[], groupIds: ReadonlySet<string>, target: GrantTarget): boolean {
  return policiesGrant(policies, 'allow', groupIds, target) && !policiesGrant(policies, 'deny', groupIds, target);
}

export type RequirementState = 'present' | 'missing' | 'denied' | 'unknown' | 'unavailable';

export interface RequirementStatus {
  /** As the inventory names it. */
  permission: string;
  state: RequirementState;
  group: PermissionGroupInfo | null;
}

/** Each required permission of a token against its policies. */
export function evaluateRequirements(
  required: readonly string[],
  policies: readonly TokenPolicy[],
  context: { kind: TokenKind; accountId: string; catalogue: PermissionCatalogue },
): RequirementStatus[] {
  return required.map((permission) => {
    const resolution = context.catalogue.resolve(permission, context.kind);
    if (resolution.kind === 'unknown') return { permission, state: 'unknown', group: null };
    if (resolution.kind === 'unavailable') return { permission, state: 'unavailable', group: resolution.group };
    const { group } = resolution;
    const target = grantTarget(group, context.accountId);
    const ids = new Set([group.id]);
    if (policiesGrant(policies, 'deny', ids, target)) return { permission, state: 'denied', group };
    return { permission, state: policiesGrant(policies, 'allow', ids, target) ? 'present' : 'missing', group };
  });
}

/** Allowed groups beyond the required ones: reported, never removed. */
export function extraPermissions(
  policies: readonly TokenPolicy[],
  requiredGroupIds: ReadonlySet<string>,
  catalogue: PermissionCatalogue,
): string[] {
  const extra = new Map<string, string>();
  for (const policy of policies) {
    if (policy.effect !== 'allow') continue;
    for (const ref of policy.permission_groups) {
      if (requiredGroupIds.has(ref.id)) continue;
      extra.set(ref.id, catalogue.byGroupId(ref.id)?.name ?? ref.name ?? ref.id);
    }
  }
  return [...extra.values()].sort();
}

const TOKEN_GROUPS: Record<TokenKind, { read: string[]; write: string[] }> = {
  user: { read: ['API Tokens Read', 'API Tokens Write'], write: ['API Tokens Write'] },
  account: { read: ['Account API Tokens Read', 'Account API Tokens Write'], write: ['Account API Tokens Write'] },
};

/** The group an editor of a token of this kind needs, by name (for recommendations). */
export const tokensWriteGroupName = (kind: TokenKind): string => TOKEN_GROUPS[kind].write[0] ?? 'API Tokens Write';

/**
 * Whether policies let their holder read (or edit) API tokens of `kind` that live in
 * `accountId` (account-owned) or under the holder's user. `holderKind` matters because an
 * account-owned token never reaches user tokens.
 */
export function mayManageTokens(
  policies: readonly TokenPolicy[],
  access: 'read' | 'write',
  subject: { kind: TokenKind; accountId: string },
  holderKind: TokenKind,
  catalogue: PermissionCatalogue,
): boolean {
  if (subject.kind === 'user' && holderKind === 'account') return false;
  const ids = catalogue.idsOf(TOKEN_GROUPS[subject.kind][access]);
  const target: GrantTarget =
    subject.kind === 'user' ? { kind: 'user' } : { kind: 'account', accountId: subject.accountId };
  return grants(policies, ids, target);
}
