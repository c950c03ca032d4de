import { PermissionDeniedError } from 'cloudflare';
import {
  groupNameForLabel,
  PERMISSION_GROUPS,
  permissionGroupByName,
  SEED_004_ACCOUNT_TOKEN_PERMISSIONS,
  SEED_004_USER_TOKEN_PERMISSIONS,
} from '../src';
import { client, errorCode, raw, required, startDemo, type DemoFixture } from './support';

let f: DemoFixture;

beforeEach(async () => {
  f = await startDemo();
});

afterEach(async () => {
  await f.sim.close();
});

const groupId = (name: string): string => required(permissionGroupByName(name)).id;

describe('authentication errors', () => {
  it('answers 400 code 9106 without credentials, and 400 code 1001 on verify', async () => {
    const listed = await raw(f.sim, 'GET', '/user/tokens');
    expect([listed.status, errorCode(listed.body)]).toEqual([400, 9106]);
    const verified = await raw(f.sim, 'GET', '/user/tokens/verify');
    expect([verified.status, errorCode(verified.body)]).toEqual([400, 1001]);
  });

  it('answers 400 code 6003 with a 6111 chain for a malformed Authorization header', async () => {
    const response = await raw(f.sim, 'GET', '/user/tokens', { headers: { authorization: 'Token abc' } });
    expect(response.status).toBe(400);
    expect(response.body).toMatchObject({
      success: false,
      errors: [{ code: 6003, error_chain: [{ code: 6111, message: 'Invalid format for Authorization header' }] }],
      result: null,
    });
  });

  it('answers 403 code 9109 for an unknown token, and 401 code 1000 on verify', async () => {
    const unknown = 'x'.repeat(40);
    const listed = await raw(f.sim, 'GET', '/user/tokens', { token: unknown });
    expect([listed.status, errorCode(listed.body)]).toEqual([403, 9109]);
    const verified = await raw(f.sim, 'GET', '/user/tokens/verify', { token: unknown });
    expect([verified.status, errorCode(verified.body)]).toEqual([401, 1000]);
  });

  it('answers 403 code 9103 for global-key headers, which the simulator does not accept', async () => {
    const response = await raw(f.sim, 'GET', '/user/tokens', {
      headers: { 'x-auth-email': 'a@b.c', 'x-auth-key': 'k' },
    });
    expect([response.status, errorCode(response.body)]).toEqual([403, 9103]);
  });
});

describe('verify', () => {
  it('reports an active token with its expiry and the valid-and-active message', async () => {
    const expiresOn = new Date(f.sim.clock.now() + 86_400_000).toISOString();
    const { id, value } = f.sim.state.createApiToken({
      owner: 'user',
      name: 'dated',
      permissions: ['API Tokens Read'],
      expiresOn,
    });
    const response = await raw(f.sim, 'GET', '/user/tokens/verify', { token: value });
    expect(response.body).toEqual({
      success: true,
      errors: [],
      messages: [{ code: 10000, message: 'This API Token is valid and active', type: null }],
      result: { id, status: 'active', expires_on: expiresOn },
    });
  });

  it('fails an expired token with 401 code 1000, and lists it as expired', async () => {
    const { id, value } = f.sim.state.createApiToken({
      owner: 'user',
      name: 'short-lived',
      permissions: ['API Tokens Read'],
      expiresOn: new Date(f.sim.clock.now() + 60_000),
    });
    await expect(client(f.sim, value).user.tokens.verify()).resolves.toMatchObject({ id, status: 'active' });
    f.sim.clock.advance(60_001);
    const verified = await raw(f.sim, 'GET', '/user/tokens/verify', { token: value });
    expect([verified.status, errorCode(verified.body)]).toEqual([401, 1000]);
    const used = await raw(f.sim, 'GET', `/user/tokens/${id}`, { token: value });
    expect([used.status, errorCode(used.body)]).toEqual([403, 9109]);
    expect(await f.warden.user.tokens.get(id)).toMatchObject({ status: 'expired' });

    const active = [];
    for await (const token of f.warden.user.tokens.list()) active.push(token.id);
    expect(active).not.toContain(id);
    const all = [];
    for await (const token of f.warden.user.tokens.list({ include_expired: true })) all.push(token.id);
    expect(all).toContain(id);
  });

  it('fails a disabled token and one that is not valid yet', async () => {
    const disabled = f.sim.state.createApiToken({
      owner: 'user',
      name: 'off',
      permissions: ['API Tokens Read'],
      status: 'disabled',
    });
    const early = f.sim.state.createApiToken({
      owner: 'user',
      name: 'later',
      permissions: ['API Tokens Read'],
      notBefore: new Date(f.sim.clock.now() + 3_600_000),
    });
    for (const token of [disabled, early]) {
      await expect(client(f.sim, token.value).user.tokens.verify()).rejects.toMatchObject({ status: 401 });
    }
  });

  it('verifies each kind of token only at its own endpoint', async () => {
    const account = required(f.demo.apiTokens.account.value);
    const user = required(f.demo.apiTokens.user.value);
    await expect(
      client(f.sim, account).accounts.tokens.verify({ account_id: f.demo.accountId }),
    ).resolves.toMatchObject({ status: 'active' });
    await expect(client(f.sim, account).user.tokens.verify()).rejects.toMatchObject({ status: 401 });
    await expect(client(f.sim, user).accounts.tokens.verify({ account_id: f.demo.accountId })).rejects.toMatchObject({
      status: 401,
    });
  });
});

describe('permissions', () => {
  it('answers 403 code 10000 when the token lacks the operation’s permission group', async () => {
    const reader = f.sim.state.createApiToken({
      owner: 'user',
      name: 'reader',
      accountId: f.demo.accountId,
      permissions: ['Access: Service Tokens Read'],
    });
    const sdk = client(f.sim, reader.value);
    await expect(sdk.zeroTrust.access.serviceTokens.list({ account_id: f.demo.accountId })).resolves.toBeDefined();
    const denied = sdk.zeroTrust.access.serviceTokens.create({ account_id: f.demo.accountId, name: 'nope' });
    await expect(denied).rejects.toBeInstanceOf(PermissionDeniedError);
    const response = await raw(f.sim, 'POST', `/accounts/${f.demo.accountId}/access/service_tokens`, {
      token: reader.value,
      body: { name: 'nope' },
    });
    expect([response.status, errorCode(response.body)]).toEqual([403, 10000]);
  });

  it('keeps an account-owned token inside its account and away from user endpoints', async () => {
    const other = f.sim.state.createAccount({ name: 'elsewhere' });
    const token = f.sim.state.createApiToken({
      owner: { accountId: f.demo.accountId },
      name: 'scoped',
      permissions: ['Access: Service Tokens Write'],
    });
    const sdk = client(f.sim, token.value);
    await expect(sdk.zeroTrust.access.serviceTokens.list({ account_id: f.demo.accountId })).resolves.toBeDefined();
    await expect(sdk.zeroTrust.access.serviceTokens.list({ account_id: other.id })).rejects.toMatchObject({
      status: 403,
    });
    await expect(sdk.user.tokens.list()).rejects.toMatchObject({ status: 403 });
  });

  it('lets a deny policy win over an allow policy', async () => {
    const token = f.sim.state.createApiToken({
      owner: 'user',
      name: 'allow-then-deny',
      policies: [
        {
          effect: 'allow',
          permission_groups: [{ id: groupId('Access: Service Tokens Read') }],
          resources: { 'com.cloudflare.api.account.*': '*' },
        },
        {
          effect: 'deny',
          permission_groups: [{ id: groupId('Access: Service Tokens Read') }],
          resources: { [`com.cloudflare.api.account.${f.demo.accountId}`]: '*' },
        },
      ],
    });
    await expect(
      client(f.sim, token.value).zeroTrust.access.serviceTokens.list({ account_id: f.demo.accountId }),
    ).rejects.toMatchObject({
      status: 403,
    });
  });

  it('refuses a token used from outside its client-IP condition', async () => {
    const token = f.sim.state.createApiToken({
      owner: 'user',
      name: 'office only',
      permissions: ['API Tokens Read'],
      requestIp: { in: ['10.0.0.0/8'] },
    });
    const response = await raw(f.sim, 'GET', '/user/tokens', { token: token.value });
    expect(response.status).toBe(403);
    expect(response.body).toMatchObject({
      errors: [{ code: 9109, message: 'Cannot use the access token from location: 127.0.0.1' }],
    });
    const loopback = f.sim.state.createApiToken({
      owner: 'user',
      name: 'here',
      permissions: ['API Tokens Read'],
      requestIp: { in: ['127.0.0.0/8'] },
    });
    expect((await raw(f.sim, 'GET', '/user/tokens', { token: loopback.value })).status).toBe(200);
  });
});

describe('self-healing through the API', () => {
  it('lets a token holding API Tokens Write add permission groups to itself; PUT replaces the policies', async () => {
    const self = f.sim.state.createApiToken({
      owner: 'user',
      name: 'self-healer',
      accountId: f.demo.accountId,
      permissions: ['API Tokens Write'],
    });
    const sdk = client(f.sim, self.value);
    const current = await sdk.user.tokens.get(self.id);
    const kept = required(current.policies).map((p) => ({
      effect: p.effect,
      permission_groups: p.permission_groups.map((g) => ({ id: g.id })),
      resources: p.resources,
    }));
    const added = {
      effect: 'allow' as const,
      permission_groups: [{ id: groupId('Workers Scripts Write') }],
      resources: { [`com.cloudflare.api.account.${f.demo.accountId}`]: '*' },
    };
    const healed = await sdk.user.tokens.update(self.id, { name: required(current.name), policies: [...kept, added] });
    expect(required(healed.policies).flatMap((p) => p.permission_groups.map((g) => g.name))).toEqual([
      'API Tokens Write',
      'Workers Scripts Write',
    ]);

    // A full replace drops whatever the body leaves out, with success:true (the real API's behaviour).
    const narrowed = await sdk.user.tokens.update(self.id, { name: 'self-healer', policies: [added, ...kept] });
    expect(required(narrowed.policies)).toHaveLength(2);
    await sdk.user.tokens.update(self.id, { name: 'self-healer', policies: [added] });
    await expect(sdk.user.tokens.get(self.id)).rejects.toMatchObject({ status: 403 });
  });

  it('lets a token with only API Tokens Read read itself but not change itself', async () => {
    const reader = f.sim.state.createApiToken({ owner: 'user', name: 'look-only', permissions: ['API Tokens Read'] });
    const sdk = client(f.sim, reader.value);
    await expect(sdk.user.tokens.get(reader.id)).resolves.toMatchObject({ name: 'look-only' });
    await expect(sdk.user.tokens.update(reader.id, { name: 'changed', policies: [] })).rejects.toMatchObject({
      status: 403,
    });
  });

  it('heals the demo account token: it lacks exactly two seed-004 permissions until the warden adds them', async () => {
    const id = required(f.demo.apiTokens.account.id);
    const account_id = f.demo.accountId;
    const names = (token: { policies?: Array<{ permission_groups: Array<{ name?: string }> }> }): string[] =>
      (token.policies ?? []).flatMap((p) => p.permission_groups.map((g) => required(g.name)));
    const before = await f.warden.accounts.tokens.get(id, { account_id });
    const missing = SEED_004_ACCOUNT_TOKEN_PERMISSIONS.filter((p) => !names(before).includes(p));
    expect(missing.sort()).toEqual([...f.demo.accountTokenMissingPermissions].sort());
    expect(missing.sort()).toEqual(['D1 Write', 'Workers Scripts Write']);

    const policies = [
      ...required(before.policies).map((p) => ({
        effect: p.effect,
        permission_groups: p.permission_groups.map((g) => ({ id: g.id })),
        resources: p.resources,
      })),
      {
        effect: 'allow' as const,
        permission_groups: missing.map((m) => ({ id: groupId(m) })),
        resources: { [`com.cloudflare.api.account.${account_id}`]: '*' },
      },
    ];
    await f.warden.accounts.tokens.update(id, { account_id, name: required(before.name), policies });
    const after = await f.warden.accounts.tokens.get(id, { account_id });
    expect(SEED_004_ACCOUNT_TOKEN_PERMISSIONS.filter((p) => !names(after).includes(p))).toEqual([]);
  });

  it('rolls a value: the old one stops working at once', async () => {
    const token = f.sim.state.createApiToken({ owner: 'user', name: 'rolling', permissions: ['API Tokens Write'] });
    const fresh = await client(f.sim, token.value).user.tokens.value.update(token.id);
    expect(fresh).not.toBe(token.value);
    await expect(client(f.sim, token.value).user.tokens.verify()).rejects.toMatchObject({ status: 401 });
    await expect(client(f.sim, fresh).user.tokens.verify()).resolves.toMatchObject({ id: token.id });
  });

  it('rejects unknown permission groups and user resources on account-owned tokens with 400', async () => {
    const account_id = f.demo.accountId;
    const unknown = f.warden.user.tokens.create({
      name: 'bad',
      policies: [
        {
          effect: 'allow',
          permission_groups: [{ id: '0'.repeat(32) }],
          resources: { 'com.cloudflare.api.account.*': '*' },
        },
      ],
    });
    await expect(unknown).rejects.toMatchObject({ status: 400 });
    const userResource = f.warden.accounts.tokens.create({
      account_id,
      name: 'bad',
      policies: [
        {
          effect: 'allow',
          permission_groups: [{ id: groupId('D1 Write') }],
          resources: { [`com.cloudflare.api.user.${f.demo.userId}`]: '*' },
        },
      ],
    });
    await expect(userResource).rejects.toMatchObject({ status: 400 });
  });
});

describe('permission groups', () => {
  it('lists every seed-004 permission with 32-hex ids and real scopes', async () => {
    const groups = [];
    for await (const group of f.warden.user.tokens.permissionGroups.list()) groups.push(group);
    const names = groups.map((g) => g.name);
    for (const needed of [
      ...SEED_004_ACCOUNT_TOKEN_PERMISSIONS,
      ...SEED_004_USER_TOKEN_PERMISSIONS,
      'API Tokens Read',
      'Account API Tokens Write',
      'Access: Service Tokens Write',
      'Access: Service Tokens Read',
      'Access: Apps and Policies Write',
      'Access: Apps and Policies Read',
      'Account Settings Read',
      'Secrets Store Write',
    ]) {
      expect(names).toContain(needed);
    }
    expect(groups.every((g) => /^[0-9a-f]{32}$/.test(required(g.id)))).toBe(true);
    expect(new Set(groups.map((g) => g.id)).size).toBe(groups.length);
    expect(groups.find((g) => g.name === 'API Tokens Write')).toMatchObject({
      id: '686d18d5ac6c441c867cbf6771e58a0a',
      scopes: ['com.cloudflare.api.user'],
    });
    expect(PERMISSION_GROUPS.length).toBe(groups.length);
  });

  it('filters by name and scope, and leaves user groups out of the account list', async () => {
    const byName = await f.warden.user.tokens.permissionGroups.list({ name: encodeURIComponent('D1 Write') });
    expect(byName.result.map((g) => g.name)).toEqual(['D1 Write']);
    const accountGroups = [];
    for await (const g of f.warden.accounts.tokens.permissionGroups.list({ account_id: f.demo.accountId }))
      accountGroups.push(g);
    expect(accountGroups.some((g) => g.scopes?.includes('com.cloudflare.api.user'))).toBe(false);
  });

  it('maps dashboard labels from seed 004 to API group names', () => {
    expect(groupNameForLabel('Workers Scripts: Edit')).toBe('Workers Scripts Write');
    expect(groupNameForLabel('Cloudflare Pages: Edit')).toBe('Pages Write');
    expect(groupNameForLabel('Workers Tail: Read')).toBe('Workers Tail Read');
    expect(groupNameForLabel('API Tokens: Edit')).toBe('API Tokens Write');
    expect(groupNameForLabel('Nonexistent: Edit')).toBeUndefined();
  });
});
