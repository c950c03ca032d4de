import { createHash } from 'node:crypto';

/**
 * The permission-group catalogue served by GET …/tokens/permission_groups and used to
 * authorise every request.
 *
 * Ids marked `real` are Cloudflare's own public ids (they appear in Cloudflare's docs,
 * Terraform examples and many public scripts). The others get a stable 32-hex id derived
 * from the name, so state files stay valid across restarts. Names follow the API's
 * "<Product> Write|Read" form; the dashboard's "<Product>: Edit" labels map onto them via
 * {@link groupNameForLabel}.
 */
export type PermissionScope =
  'com.cloudflare.api.account' | 'com.cloudflare.api.account.zone' | 'com.cloudflare.api.user';

export type PermissionCategory =
  | 'developer_platform'
  | 'ai_and_machine_learning'
  | 'dns_and_zones'
  | 'cloudflare_one_and_zero_trust'
  | 'analytics_and_logs'
  | 'media'
  | 'account_and_billing';

export interface PermissionGroup {
  id: string;
  name: string;
  category: PermissionCategory;
  scopes: PermissionScope[];
}

const ACCOUNT: PermissionScope[] = ['com.cloudflare.api.account'];
const ACCOUNT_AND_ZONE: PermissionScope[] = ['com.cloudflare.api.account', 'com.cloudflare.api.account.zone'];
const ZONE: PermissionScope[] = ['com.cloudflare.api.account.zone'];
const USER: PermissionScope[] = ['com.cloudflare.api.user'];

const derivedId = (name: string): string =>
  createHash('sha256').update(`token-warden-simulator/permission-group/${name}`).digest('hex').slice(0, 32);

function group(
  name: string,
  category: PermissionCategory,
  scopes: PermissionScope[],
  realId?: string,
): PermissionGroup {
  return { id: realId ?? derivedId(name), name, category, scopes };
}

export const PERMISSION_GROUPS: readonly PermissionGroup[] = Object.freeze([
  // Workers and the developer platform
  group('Workers Scripts Write', 'developer_platform', ACCOUNT, 'e086da7e2179491d91ee5f35b3ca210a'),
  group('Workers Scripts Read', 'developer_platform', ACCOUNT, '1a71c399035b4950a1bd1466bbe4f420'),
  group('Workers KV Storage Write', 'developer_platform', ACCOUNT, 'f7f0eda5697f475c90846e879bab8666'),
  group('Workers KV Storage Read', 'developer_platform', ACCOUNT, '8b47d2786a534c08a1f94ee8f9f599ef'),
  group('D1 Write', 'developer_platform', ACCOUNT, '09b2857d1c31407795e75e3fed8617a1'),
  group('D1 Read', 'developer_platform', ACCOUNT, '192192df92ee43ac90f2aeeffce67e35'),
  group('Workers R2 Storage Write', 'developer_platform', ACCOUNT, 'bf7481a1826f439697cb59a20b22293e'),
  group('Workers R2 Storage Read', 'developer_platform', ACCOUNT, 'b4992e1108244f5d8bfbd5744320c2e1'),
  group('Queues Write', 'developer_platform', ACCOUNT, '366f57075ffc42689627bcf8242a1b6d'),
  group('Queues Read', 'developer_platform', ACCOUNT),
  group('Hyperdrive Write', 'developer_platform', ACCOUNT),
  group('Hyperdrive Read', 'developer_platform', ACCOUNT),
  group('Workers Tail Read', 'developer_platform', ACCOUNT, '05880cd1bdc24d8bae0be2136972816b'),
  group('Pages Write', 'developer_platform', ACCOUNT, '8d28297797f24fb8a0c332fe0866ec89'),
  group('Pages Read', 'developer_platform', ACCOUNT, 'e247aedd66bd41cc9193af0213416666'),
  // Not confirmed as a distinct real group: present so seed 004's
  // "Workers Analytics Engine: Edit" requirement has a group to heal to.
  group('Workers Analytics Engine Write', 'developer_platform', ACCOUNT),
  group('Secrets Store Write', 'developer_platform', ACCOUNT),
  group('Secrets Store Read', 'developer_platform', ACCOUNT),
  group('Workers Routes Write', 'developer_platform', ZONE, '28f4b596e7d643029c524985477ae49a'),
  // AI
  group('Workers AI Write', 'ai_and_machine_learning', ACCOUNT, 'bacc64e0f6c34fc0883a1223f938a104'),
  group('Workers AI Read', 'ai_and_machine_learning', ACCOUNT),
  group('AI Gateway Write', 'ai_and_machine_learning', ACCOUNT),
  group('AI Gateway Read', 'ai_and_machine_learning', ACCOUNT),
  group('Vectorize Write', 'ai_and_machine_learning', ACCOUNT),
  group('Vectorize Read', 'ai_and_machine_learning', ACCOUNT),
  // Media
  group('Cloudflare Images Write', 'media', ACCOUNT, '618ec6c64a3a42f8b08bdcb147ded4e4'),
  group('Cloudflare Images Read', 'media', ACCOUNT),
  // Zero Trust
  group('Cloudflare Tunnel Write', 'cloudflare_one_and_zero_trust', ACCOUNT, 'c07321b023e944ff818fec44d8203567'),
  group('Cloudflare Tunnel Read', 'cloudflare_one_and_zero_trust', ACCOUNT, 'efea2ab8357b47888938f101ae5e053f'),
  group('Access: Service Tokens Write', 'cloudflare_one_and_zero_trust', ACCOUNT_AND_ZONE),
  group('Access: Service Tokens Read', 'cloudflare_one_and_zero_trust', ACCOUNT_AND_ZONE),
  group(
    'Access: Apps and Policies Write',
    'cloudflare_one_and_zero_trust',
    ACCOUNT_AND_ZONE,
    '1e13c5124ca64b72b1969a67e8829049',
  ),
  group(
    'Access: Apps and Policies Read',
    'cloudflare_one_and_zero_trust',
    ACCOUNT_AND_ZONE,
    '7ea222f6d5064cfa89ea366d7c1fee89',
  ),
  group('Access: Apps and Policies Revoke', 'cloudflare_one_and_zero_trust', ACCOUNT_AND_ZONE),
  // Account
  group('Account API Tokens Write', 'account_and_billing', ACCOUNT),
  group('Account API Tokens Read', 'account_and_billing', ACCOUNT),
  group('Account Settings Write', 'account_and_billing', ACCOUNT, '1af1fa2adc104452b74a9a3364202f20'),
  group('Account Settings Read', 'account_and_billing', ACCOUNT, 'c1fde68c7bcc44588cbb6ddbc16d6480'),
  group('Account Analytics Read', 'analytics_and_logs', ACCOUNT),
  // Zones and DNS
  group('Zone Read', 'dns_and_zones', ZONE, 'c8fed203ed3043cba015a93ad1616f1f'),
  group('DNS Write', 'dns_and_zones', ZONE, '4755a26eedb94da69e1066d98aa820be'),
  group('DNS Read', 'dns_and_zones', ZONE, '82e64a83756745bbbb1c9c2701bf816b'),
  // User
  group('API Tokens Write', 'account_and_billing', USER, '686d18d5ac6c441c867cbf6771e58a0a'),
  group('API Tokens Read', 'account_and_billing', USER, '0cc3a61731504c89b99ec1be78b77aa0'),
  group('User Details Write', 'account_and_billing', USER, '55a5e17cc99e4a3fa1f3432d262f2e55'),
  group('User Details Read', 'account_and_billing', USER),
  group('Memberships Write', 'account_and_billing', USER, '9201bc6f42d440968aaab0c6f17ebb1d'),
]);

const BY_NAME = new Map(PERMISSION_GROUPS.map((g) => [g.name.toLowerCase(), g]));
const BY_ID = new Map(PERMISSION_GROUPS.map((g) => [g.id, g]));

export const permissionGroupById = (id: string): PermissionGroup | undefined => BY_ID.get(id);

export const permissionGroupByName = (name: string): PermissionGroup | undefined => BY_NAME.get(name.toLowerCase());

/** Looks a group up by name and fails loudly: used where a missing group is a programming error. */
export function requirePermissionGroup(name: string): PermissionGroup {
  const found = permissionGroupByName(name);
  if (!found) throw new Error(`Unknown permission group "${name}"`);
  return found;
}

export const isUserScoped = (g: PermissionGroup): boolean => g.scopes.includes('com.cloudflare.api.user');

const LABEL_ALIASES: Readonly<Record<string, string>> = {
  'cloudflare pages': 'Pages',
  'workers d1 storage': 'D1',
};

/**
 * Maps a dashboard label such as "Workers Scripts: Edit" or "Cloudflare Pages: Edit" to the
 * API group name ("Workers Scripts Write", "Pages Write"). Returns undefined when no group
 * of that name exists.
 */
export function groupNameForLabel(label: string): string | undefined {
  const match = /^(.*?):\s*(Edit|Write|Read)$/i.exec(label.trim());
  if (!match) return permissionGroupByName(label)?.name;
  const product = match[1] ?? '';
  const level = (match[2] ?? '').toLowerCase() === 'read' ? 'Read' : 'Write';
  const base = LABEL_ALIASES[product.toLowerCase()] ?? product;
  return permissionGroupByName(`${base} ${level}`)?.name;
}

/** Seed 004: the permissions the account-owned API token must carry. */
export const SEED_004_ACCOUNT_TOKEN_PERMISSIONS: readonly string[] = Object.freeze([
  'Workers Scripts Write',
  'Workers KV Storage Write',
  'D1 Write',
  'Workers R2 Storage Write',
  'Workers AI Write',
  'AI Gateway Write',
  'Queues Write',
  'Vectorize Write',
  'Hyperdrive Write',
  'Workers Tail Read',
  'Pages Write',
  'Cloudflare Images Write',
  'Cloudflare Tunnel Write',
  'Workers Analytics Engine Write',
]);

/** Seed 004: the permissions the user API token must carry. */
export const SEED_004_USER_TOKEN_PERMISSIONS: readonly string[] = Object.freeze(['API Tokens Write']);
