import type { PermissionGroupInfo } from '../../src/health/types';

const ACCOUNT = ['com.cloudflare.api.account'];
const ACCOUNT_AND_ZONE = ['com.cloudflare.api.account', 'com.cloudflare.api.account.zone'];
const ZONE = ['com.cloudflare.api.account.zone'];
const USER = ['com.cloudflare.api.user'];

let next = 0;
const group = (name: string, scopes: string[]): PermissionGroupInfo => ({
  id: (next++).toString(16).padStart(32, '0'),
  name,
  scopes,
});

/** A small permission-group listing with every scope shape heal must handle. */
export const TEST_GROUPS: readonly PermissionGroupInfo[] = [
  group('Workers Scripts Write', ACCOUNT),
  group('Workers Scripts Read', ACCOUNT),
  group('D1 Write', ACCOUNT),
  group('Workers KV Storage Write', ACCOUNT),
  group('Pages Write', ACCOUNT),
  group('Workers Tail Read', ACCOUNT),
  group('Access: Service Tokens Write', ACCOUNT_AND_ZONE),
  group('Account API Tokens Write', ACCOUNT),
  group('Account API Tokens Read', ACCOUNT),
  group('DNS Write', ZONE),
  group('Zone Read', ZONE),
  group('API Tokens Write', USER),
  group('API Tokens Read', USER),
  group('Memberships Write', USER),
];

export const groupNamed = (name: string): PermissionGroupInfo => {
  const found = TEST_GROUPS.find((g) => g.name === name);
  if (!found) throw new Error(`no test group ${name}`);
  return found;
};

export const HOME = 'a'.repeat(32);
export const OTHER = 'b'.repeat(32);
export const ZONE_ID = 'c'.repeat(32);
export const USER_ID = 'd'.repeat(32);
