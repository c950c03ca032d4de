import { badRequest } from '../errors';
import { isUserScoped, requirePermissionGroup } from '../permission-groups';
import type { ApiTokenPolicyInput } from './api-tokens';

/** Groups become one policy per resource kind: user, account (or all accounts), zones. */
export function policiesForGroups(
  names: string[],
  accountId: string | undefined,
  ownerKind: 'user' | 'account',
  userId: string,
): ApiTokenPolicyInput[] {
  const groups = names.map(requirePermissionGroup);
  const userGroups = groups.filter(isUserScoped);
  const zoneOnly = groups.filter((g) => g.scopes.length === 1 && g.scopes[0] === 'com.cloudflare.api.account.zone');
  const accountGroups = groups.filter((g) => !isUserScoped(g) && !zoneOnly.includes(g));
  const policies: ApiTokenPolicyInput[] = [];
  const ids = (list: typeof groups): Array<{ id: string }> => list.map((g) => ({ id: g.id }));
  if (accountGroups.length > 0) {
    const key = `com.cloudflare.api.account.${accountId ?? '*'}`;
    policies.push({ effect: 'allow', permission_groups: ids(accountGroups), resources: { [key]: '*' } });
  }
  if (zoneOnly.length > 0) {
    const resources = accountId
      ? { [`com.cloudflare.api.account.${accountId}`]: { 'com.cloudflare.api.account.zone.*': '*' } }
      : { 'com.cloudflare.api.account.zone.*': '*' };
    policies.push({ effect: 'allow', permission_groups: ids(zoneOnly), resources });
  }
  if (userGroups.length > 0) {
    if (ownerKind === 'account') throw badRequest('account-owned tokens cannot hold user permissions');
    policies.push({
      effect: 'allow',
      permission_groups: ids(userGroups),
      resources: { [`com.cloudflare.api.user.${userId}`]: '*' },
    });
  }
  return policies;
}
