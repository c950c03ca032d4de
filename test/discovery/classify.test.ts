import { parse as parseYaml } from 'yaml';
import { inventorySchema } from '../../src/config';
import { listEveryPage } from '../../src/cloudflare/pages';
import { adoptionSnippet } from '../../src/discovery/adopt-snippet';
import {
  classifyApiToken,
  classifyServiceToken,
  knownApiTokens,
  overPrivilege,
  userTokenAccounts,
} from '../../src/discovery/classify';
import { listedApiTokenSchema } from '../../src/discovery/credential-schemas';

const A = 'a'.repeat(32);
const B = 'b'.repeat(32);
const now = new Date('2026-12-01T00:00:00Z');

const inventory = inventorySchema.parse({
  accounts: [
    {
      id: A,
      apiTokens: [
        { name: 'deploy', kind: 'account', secretFrom: { env: 'X' }, requiredPermissions: ['Workers Scripts: Edit'] },
        { name: 'ops', kind: 'user', id: 'u1', secretFrom: { env: 'Y' }, requiredPermissions: ['API Tokens Write'] },
      ],
      serviceTokens: [{ name: 'ci' }, { name: 'zoned', zoneId: 'z1', strategy: 'replace' }],
    },
    { id: B },
  ],
});

const token = (fields: object) =>
  listedApiTokenSchema.parse({
    id: 't1',
    name: 'Some token',
    policies: [
      {
        effect: 'allow',
        permission_groups: [
          { id: 'g1', name: 'Workers Scripts Write' },
          { id: 'g2', name: 'D1 Write' },
        ],
        resources: { [`com.cloudflare.api.account.${A}`]: '*' },
      },
    ],
    ...fields,
  });

describe('discovery classification', () => {
  it('matches service tokens by name within their scope: a zone token is not the account token of the same name', () => {
    const account = inventory.accounts[0]!;
    expect(classifyServiceToken({ id: 's1', name: 'ci' }, { account, zoneId: null, now })).toMatchObject({
      managed: true,
      inventoryName: 'ci',
      status: 'active',
      expiresAt: null,
    });
    expect(classifyServiceToken({ id: 's2', name: 'zoned' }, { account, zoneId: null, now }).managed).toBe(false);
    expect(classifyServiceToken({ id: 's3', name: 'zoned' }, { account, zoneId: 'z1', now }).managed).toBe(true);
    const expired = classifyServiceToken(
      { id: 's4', name: 'old', expires_at: '2026-11-01T00:00:00Z', last_seen_at: '2026-06-01T00:00:00Z' },
      { account, zoneId: null, now },
    );
    expect(expired).toMatchObject({ managed: false, status: 'expired', lastUsedAt: '2026-06-01T00:00:00Z' });
  });

  it('matches API tokens by inventory id, the id a health check cached, or name, and only of their kind', () => {
    const known = knownApiTokens(inventory, [
      { subject: `${A}/deploy`, fingerprint: 'f', tokenId: 'acct-1', kind: 'account', selfReadable: true },
      { subject: 'token-warden', fingerprint: 'f', tokenId: 'w1', kind: 'user', selfReadable: true },
    ]);
    const classify = (fields: object, kind: 'account' | 'user') =>
      classifyApiToken(token(fields), { accountId: A, kind, known });
    expect(classify({ id: 'acct-1' }, 'account')).toMatchObject({ managed: true, inventoryName: 'deploy' });
    expect(classify({ id: 'acct-1' }, 'user').managed).toBe(false);
    expect(classify({ id: 'u1' }, 'user')).toMatchObject({ managed: true, inventoryName: 'ops' });
    expect(classify({ id: 'w1' }, 'user')).toMatchObject({ managed: true, inventoryName: 'token-warden' });
    expect(classify({ id: 'other', name: 'deploy' }, 'account').managed).toBe(false); // its id is known: a namesake is not it
    expect(classify({ id: 'x', last_used_on: '2026-01-01T00:00:00Z' }, 'account')).toMatchObject({
      managed: false,
      lastUsedAt: '2026-01-01T00:00:00Z',
      overPrivileged: null,
      permissions: ['D1 Write', 'Workers Scripts Write'],
    });
  });

  it('reports permissions beyond the required list by name, with the dashboard spelling understood', () => {
    expect(overPrivilege(token({}).policies, ['Workers Scripts: Edit'])).toEqual(['D1 Write']);
    expect(overPrivilege(token({}).policies, ['Workers Scripts Write', 'D1: Edit'])).toEqual([]);
    expect(overPrivilege(token({}).policies, [])).toBeNull();
  });

  it('records a user token under the accounts it reaches, else the first', () => {
    expect(userTokenAccounts(token({}), [A, B], null)).toEqual([A]);
    const everywhere = token({
      policies: [
        { effect: 'allow', permission_groups: [{ id: 'g' }], resources: { 'com.cloudflare.api.account.*': '*' } },
      ],
    });
    expect(userTokenAccounts(everywhere, [A, B], null)).toEqual([A, B]);
    const userOnly = token({
      policies: [
        { effect: 'allow', permission_groups: [{ id: 'g' }], resources: { 'com.cloudflare.api.user.u': '*' } },
      ],
    });
    expect(userTokenAccounts(userOnly, [A, B], null)).toEqual([A]);
    expect(userTokenAccounts(userOnly, [A, B], B)).toEqual([B]);
  });

  it('makes an adoption snippet the inventory accepts, with the secret only referenced', () => {
    const yaml = adoptionSnippet({
      accountId: A,
      kind: 'account-api-token',
      id: 'abc',
      zoneId: null,
      name: 'Terraform CI (old)',
      permissions: ['Workers Scripts Write'],
    });
    expect(inventorySchema.parse(parseYaml(yaml)).accounts[0]!.apiTokens[0]).toMatchObject({
      name: 'terraform-ci-old',
      kind: 'account',
      id: 'abc',
      secretFrom: { env: 'TERRAFORM_CI_OLD_CLOUDFLARE_TOKEN' },
    });
  });
});

describe('listEveryPage', () => {
  const pages = (total: number) => async (page: number, size: number) => {
    const result = Array.from({ length: Math.max(0, Math.min(size, total - (page - 1) * size)) }, (_, i) => i);
    return { result, result_info: { page, per_page: size, total_count: total } };
  };

  it('reads one page for a list that fits, and never the empty page after a full last one', async () => {
    expect(await listEveryPage(pages(7))).toMatchObject({ requests: 1 });
    expect(await listEveryPage(pages(50))).toMatchObject({ requests: 1 });
    const full = await listEveryPage(pages(100));
    expect(full).toMatchObject({ requests: 2 });
    expect(full.items).toHaveLength(100);
    expect(await listEveryPage(pages(101))).toMatchObject({ requests: 3 });
  });
});
