import { BlockList, isIP } from 'node:net';
import { permissionGroupByName } from './permission-groups';
import type { ApiTokenRecord, RequestIpCondition, TokenResources } from './state/types';

/** The resource an operation acts on, as API-token policies name it. */
export type ResourceRef =
  | { kind: 'account'; accountId: string }
  | { kind: 'zone'; zoneId: string; accountId?: string }
  | { kind: 'user'; userId: string };

export type BearerParse = { kind: 'missing' } | { kind: 'malformed' } | { kind: 'ok'; value: string };

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{20,200}$/;

/** Reads `Authorization: Bearer <token>`; anything else in that header is malformed, as upstream says. */
export function parseBearer(header: string | undefined): BearerParse {
  if (header === undefined || header.trim() === '') return { kind: 'missing' };
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1] || !TOKEN_SHAPE.test(match[1])) return { kind: 'malformed' };
  return { kind: 'ok', value: match[1] };
}

const ACCOUNT_PREFIX = 'com.cloudflare.api.account.';
const ZONE_PREFIX = 'com.cloudflare.api.account.zone.';
const USER_PREFIX = 'com.cloudflare.api.user.';

function zoneCoveredBy(value: string | Record<string, string>, zoneId: string): boolean {
  if (typeof value === 'string') return value === '*';
  return value[`${ZONE_PREFIX}${zoneId}`] === '*' || value[`${ZONE_PREFIX}*`] === '*';
}

/**
 * Whether a policy's resources cover the resource. An account key with "*" covers the
 * account and its zones; a nested map under an account key covers only the zones it names.
 */
export function resourcesCover(resources: TokenResources, ref: ResourceRef): boolean {
  const at = (key: string): string | Record<string, string> | undefined => resources[key];
  switch (ref.kind) {
    case 'user':
      return at(`${USER_PREFIX}${ref.userId}`) === '*' || at(`${USER_PREFIX}*`) === '*';
    case 'account':
      return at(`${ACCOUNT_PREFIX}${ref.accountId}`) === '*' || at(`${ACCOUNT_PREFIX}*`) === '*';
    case 'zone': {
      if (at(`${ZONE_PREFIX}${ref.zoneId}`) === '*' || at(`${ZONE_PREFIX}*`) === '*') return true;
      const accountKeys = [`${ACCOUNT_PREFIX}*`, ...(ref.accountId ? [`${ACCOUNT_PREFIX}${ref.accountId}`] : [])];
      return accountKeys.some((key) => {
        const value = at(key);
        return value !== undefined && zoneCoveredBy(value, ref.zoneId);
      });
    }
  }
}

/**
 * Whether the token may act on `ref` with any of `groupNames`. Deny policies win over
 * allow policies, as on Cloudflare. Account-owned tokens never reach another account.
 */
export function tokenGrants(token: ApiTokenRecord, groupNames: readonly string[], ref: ResourceRef): boolean {
  if (token.owner.kind === 'account') {
    if (ref.kind === 'user') return false;
    if (ref.accountId !== undefined && ref.accountId !== token.owner.accountId) return false;
  }
  const wanted = new Set(groupNames.map((name) => permissionGroupByName(name)?.id).filter((id) => id !== undefined));
  const applies = (effect: 'allow' | 'deny'): boolean =>
    token.policies.some(
      (p) =>
        p.effect === effect && p.permission_groups.some((g) => wanted.has(g.id)) && resourcesCover(p.resources, ref),
    );
  return applies('allow') && !applies('deny');
}

/** The token's client-IP condition: allowed when in `in` (if given) and not in `not_in`. */
export function ipAllowed(condition: RequestIpCondition | null, ip: string): boolean {
  if (!condition) return true;
  const address = ip.startsWith('::ffff:') ? ip.slice(7) : ip;
  const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
  const listOf = (cidrs: string[]): BlockList => {
    const list = new BlockList();
    for (const cidr of cidrs) {
      const [net, bits] = cidr.split('/');
      if (!net) continue;
      const netFamily = isIP(net) === 6 ? 'ipv6' : 'ipv4';
      if (bits === undefined) list.addAddress(net, netFamily);
      else list.addSubnet(net, Number(bits), netFamily);
    }
    return list;
  };
  if (condition.in && condition.in.length > 0 && !listOf(condition.in).check(address, family)) return false;
  if (condition.not_in && condition.not_in.length > 0 && listOf(condition.not_in).check(address, family)) return false;
  return true;
}
