import { WARDEN_SUBJECT } from '../activities/token-subject';
import type { Account, Inventory } from '../config';
import { apiGroupName, extraPermissions, PermissionCatalogue } from '../health/permissions';
import type { TokenIdentity, TokenKind } from '../health/types';
import type { DiscoveredCredential, ListedApiToken, ListedServiceToken } from './credential-schemas';

const DAY_MS = 86_400_000;
const ACCOUNT_PREFIX = 'com.cloudflare.api.account.';
const ZONE_PREFIX = 'com.cloudflare.api.account.zone.';

/** An API token token-warden knows: an inventory entry, or its own token. */
export interface KnownApiToken {
  accountId: string;
  name: string;
  kind: TokenKind;
  /** The inventory's id, else the id health checks cached for it; unknown before the first check. */
  id: string | null;
  requiredPermissions: readonly string[];
}

/** Every API token token-warden knows, with the ids its health checks learnt where the inventory names none. */
export function knownApiTokens(
  inventory: Pick<Inventory, 'accounts'>,
  identities: readonly TokenIdentity[],
): KnownApiToken[] {
  const idOf = (subject: string) => identities.find((identity) => identity.subject === subject)?.tokenId ?? null;
  const known: KnownApiToken[] = inventory.accounts.flatMap((account) =>
    account.apiTokens.map((token) => ({
      accountId: account.id,
      name: token.name,
      kind: token.kind,
      id: token.id ?? idOf(`${account.id}/${token.name}`),
      requiredPermissions: token.requiredPermissions,
    })),
  );
  const warden = identities.find((identity) => identity.subject === WARDEN_SUBJECT);
  if (warden && !known.some((token) => token.id === warden.tokenId))
    known.push({
      accountId: '',
      name: WARDEN_SUBJECT,
      kind: warden.kind,
      id: warden.tokenId,
      requiredPermissions: [],
    });
  return known;
}

const daysBetween = (from: number, to: number) => Math.floor((to - from) / DAY_MS);

/** Whole days until `expiresAt` (negative once expired); null when it never expires. */
export function daysLeft(expiresAt: string | null, now: Date): number | null {
  return expiresAt === null ? null : daysBetween(now.getTime(), Date.parse(expiresAt));
}

/** An Access service token of an account (or of one of its zones) against the account's inventory. */
export function classifyServiceToken(
  listed: ListedServiceToken,
  context: { account: Pick<Account, 'id' | 'serviceTokens'>; zoneId: string | null; now: Date },
): DiscoveredCredential {
  const entry = context.account.serviceTokens.find(
    (token) => token.name === listed.name && (token.zoneId ?? null) === context.zoneId,
  );
  const expiresAt = listed.expires_at ?? null;
  const expired = expiresAt !== null && Date.parse(expiresAt) <= context.now.getTime();
  return {
    accountId: context.account.id,
    kind: 'service-token',
    id: listed.id,
    zoneId: context.zoneId,
    name: listed.name,
    managed: entry !== undefined,
    inventoryName: entry?.name ?? null,
    status: listed.enabled === false ? 'disabled' : expired ? 'expired' : 'active',
    expiresAt,
    lastUsedAt: listed.last_seen_at ?? null,
    createdAt: listed.created_at ?? null,
    overPrivileged: null,
    permissions: null,
  };
}

/**
 * Allowed permission groups beyond `required`, by the names the token's own policies carry, so
 * no permission-group listing is needed; null when nothing is required (nothing to compare).
 */
export function overPrivilege(policies: ListedApiToken['policies'], required: readonly string[]): string[] | null {
  if (required.length === 0) return null;
  const groups = policies.flatMap((policy) =>
    policy.permission_groups.map((group) => ({ id: group.id, name: group.name ?? group.id, scopes: [] })),
  );
  const catalogue = new PermissionCatalogue(groups);
  const requiredIds = catalogue.idsOf(required.flatMap((permission) => [apiGroupName(permission), permission.trim()]));
  return extraPermissions(policies, requiredIds, catalogue);
}

/** The permission groups a token's allow policies name, by name. */
export function allowedGroupNames(policies: ListedApiToken['policies']): string[] {
  const names = policies
    .filter((policy) => policy.effect === 'allow')
    .flatMap((policy) => policy.permission_groups.map((group) => group.name ?? group.id));
  return [...new Set(names)].sort();
}

/** An API token against what token-warden knows: managed when an entry of its kind names its id, or its name. */
export function classifyApiToken(
  listed: ListedApiToken,
  context: { accountId: string; kind: TokenKind; known: readonly KnownApiToken[] },
): DiscoveredCredential {
  const ofKind = context.known.filter((token) => token.kind === context.kind);
  const entry =
    ofKind.find((token) => token.id === listed.id) ??
    ofKind.find((token) => token.id === null && token.name === listed.name);
  return {
    accountId: context.accountId,
    kind: context.kind === 'account' ? 'account-api-token' : 'user-api-token',
    id: listed.id,
    zoneId: null,
    name: listed.name,
    managed: entry !== undefined,
    inventoryName: entry?.name ?? null,
    status: listed.status,
    expiresAt: listed.expires_on ?? null,
    lastUsedAt: listed.last_used_on ?? null,
    createdAt: listed.issued_on ?? null,
    overPrivileged: entry ? overPrivilege(listed.policies, entry.requiredPermissions) : null,
    permissions: allowedGroupNames(listed.policies),
  };
}

/**
 * The inventory accounts a user token is recorded under: those its policies reach (by id, or
 * every account through a wildcard), and the one whose inventory manages it; a token reaching
 * none of them (user-level grants only, other accounts) is recorded under the first account,
 * so every token visible to token-warden is listed somewhere.
 */
export function userTokenAccounts(
  listed: ListedApiToken,
  accountIds: readonly string[],
  managedIn: string | null,
): string[] {
  const reached = new Set<string>();
  for (const policy of listed.policies) {
    if (policy.effect !== 'allow') continue;
    for (const key of Object.keys(policy.resources)) {
      if (key === `${ACCOUNT_PREFIX}*` || key.startsWith(ZONE_PREFIX)) accountIds.forEach((id) => reached.add(id));
      else if (key.startsWith(ACCOUNT_PREFIX)) reached.add(key.slice(ACCOUNT_PREFIX.length));
    }
  }
  if (managedIn) reached.add(managedIn);
  const found = accountIds.filter((id) => reached.has(id));
  return found.length > 0 ? found : accountIds.slice(0, 1);
}
