import type { Token, TokenPolicyParam } from 'cloudflare/resources/shared';
import type { TokenCondition, TokenPolicy, TokenPolicyInput, TokenResources, TokenSnapshot } from '../health/types';

/** Cloudflare's token objects as the health check reads them, and its policies as heal writes them. */

const stringMap = (value: unknown): Record<string, string> | undefined => {
  if (!value || typeof value !== 'object') return undefined;
  const entries = Object.entries(value).filter((entry): entry is [string, string] => typeof entry[1] === 'string');
  return entries.length ? Object.fromEntries(entries) : undefined;
};

export function toSnapshot(token: Token, fallbackId: string): TokenSnapshot {
  const policies: TokenPolicy[] = (token.policies ?? []).map((policy) => {
    const resources: Record<string, TokenResources[string]> = {};
    for (const [key, value] of Object.entries(policy.resources ?? {})) {
      if (typeof value === 'string') resources[key] = value;
      else if (value && typeof value === 'object') resources[key] = stringMap(value) ?? {};
    }
    return {
      id: policy.id,
      effect: policy.effect,
      permission_groups: policy.permission_groups.map((group) => {
        const meta = stringMap(group.meta);
        return { id: group.id, ...(group.name ? { name: group.name } : {}), ...(meta ? { meta } : {}) };
      }),
      resources,
    };
  });
  const condition: TokenCondition | null =
    token.condition && Object.keys(token.condition).length > 0 ? { ...token.condition } : null;
  return {
    id: token.id ?? fallbackId,
    name: token.name ?? '',
    status: token.status ?? 'active',
    issuedOn: token.issued_on ?? null,
    modifiedOn: token.modified_on ?? null,
    notBefore: token.not_before ?? null,
    expiresOn: token.expires_on ?? null,
    policies,
    condition,
  };
}

/**
 * Cloudflare accepts resource maps that mix `"*"` values with nested zone maps; the SDK's type
 * says one or the other. Object.assign's intersection type carries both without a cast.
 */
function sdkResources(resources: TokenResources): TokenPolicyParam['resources'] {
  const flat: Record<string, string> = {};
  const nested: Record<string, Record<string, string>> = {};
  for (const [key, value] of Object.entries(resources)) {
    if (typeof value === 'string') flat[key] = value;
    else nested[key] = { ...value };
  }
  return Object.assign(nested, flat);
}

export const sdkPolicy = (policy: TokenPolicyInput): TokenPolicyParam => ({
  effect: policy.effect,
  permission_groups: policy.permission_groups.map((g) => (g.meta ? { id: g.id, meta: { ...g.meta } } : { id: g.id })),
  resources: sdkResources(policy.resources),
});
