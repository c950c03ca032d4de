import { APIConnectionError } from 'cloudflare';
import { client, probe, raw, required, startDemo, type DemoFixture } from './support';

let f: DemoFixture;

beforeEach(async () => {
  f = await startDemo();
});

afterEach(async () => {
  await f.sim.close();
});

/** A new account-level token that the demo app's reusable policy lets in. */
async function tokenOnDemoApp(name: string): Promise<{ id: string; clientId: string; clientSecret: string }> {
  const created = await f.warden.zeroTrust.access.serviceTokens.create({ account_id: f.demo.accountId, name });
  f.sim.state.createAccessPolicy({
    accountId: f.demo.accountId,
    appId: f.demo.accessApp.id,
    name: `allow ${name}`,
    include: [{ service_token: { token_id: required(created.id) } }],
  });
  return {
    id: required(created.id),
    clientId: required(created.client_id),
    clientSecret: required(created.client_secret),
  };
}

const appId = (): string => f.demo.accessApp.id;
const minutes = (n: number): string => new Date(f.sim.clock.now() + n * 60_000).toISOString();

describe('Access service tokens', () => {
  it('keeps the old secret working on the probe during the rotation overlap and rejects it after', async () => {
    const token = await tokenOnDemoApp('rotating');
    expect(await probe(f.sim, appId(), token.clientId, token.clientSecret)).toBe(200);

    const rotated = await f.warden.zeroTrust.access.serviceTokens.rotate(token.id, {
      account_id: f.demo.accountId,
      previous_client_secret_expires_at: minutes(5),
    });
    const newSecret = required(rotated.client_secret);
    expect(newSecret).not.toBe(token.clientSecret);
    expect(rotated.client_id).toBe(token.clientId);
    expect(f.sim.state.getServiceToken(token.id)).toMatchObject({ client_secret_version: 2 });

    expect(await probe(f.sim, appId(), token.clientId, token.clientSecret)).toBe(200);
    expect(await probe(f.sim, appId(), token.clientId, newSecret)).toBe(200);

    f.sim.clock.advance(5 * 60_000 + 1);
    expect(await probe(f.sim, appId(), token.clientId, token.clientSecret)).toBe(403);
    expect(await probe(f.sim, appId(), token.clientId, newSecret)).toBe(200);
  });

  it('retires the previous secret at once when rotate is not given previous_client_secret_expires_at', async () => {
    const token = await tokenOnDemoApp('no-overlap');
    const rotated = await f.warden.zeroTrust.access.serviceTokens.rotate(token.id, { account_id: f.demo.accountId });
    expect(await probe(f.sim, appId(), token.clientId, token.clientSecret)).toBe(403);
    expect(await probe(f.sim, appId(), token.clientId, required(rotated.client_secret))).toBe(200);
  });

  it('keeps only one previous secret: a second rotation ends the first overlap', async () => {
    const token = await tokenOnDemoApp('twice');
    const params = { account_id: f.demo.accountId, previous_client_secret_expires_at: minutes(10) };
    const second = await f.warden.zeroTrust.access.serviceTokens.rotate(token.id, params);
    const third = await f.warden.zeroTrust.access.serviceTokens.rotate(token.id, params);
    expect(await probe(f.sim, appId(), token.clientId, token.clientSecret)).toBe(403);
    expect(await probe(f.sim, appId(), token.clientId, required(second.client_secret))).toBe(200);
    expect(await probe(f.sim, appId(), token.clientId, required(third.client_secret))).toBe(200);
    expect(f.sim.state.getServiceToken(token.id)).toMatchObject({ client_secret_version: 3 });
  });

  it('moves the previous secret expiry with update, later or into the past', async () => {
    const token = await tokenOnDemoApp('move-overlap');
    await f.warden.zeroTrust.access.serviceTokens.rotate(token.id, {
      account_id: f.demo.accountId,
      previous_client_secret_expires_at: minutes(1),
    });
    await f.warden.zeroTrust.access.serviceTokens.update(token.id, {
      account_id: f.demo.accountId,
      previous_client_secret_expires_at: minutes(60),
    });
    f.sim.clock.advance(2 * 60_000);
    expect(await probe(f.sim, appId(), token.clientId, token.clientSecret)).toBe(200);
    await f.warden.zeroTrust.access.serviceTokens.update(token.id, {
      account_id: f.demo.accountId,
      previous_client_secret_expires_at: minutes(-1),
    });
    expect(await probe(f.sim, appId(), token.clientId, token.clientSecret)).toBe(403);
  });

  it('rotates without returning the secret when update raises client_secret_version', async () => {
    const token = await tokenOnDemoApp('update-rotates');
    const updated = await raw(f.sim, 'PUT', `/accounts/${f.demo.accountId}/access/service_tokens/${token.id}`, {
      token: required(f.demo.apiTokens.warden.value),
      body: { client_secret_version: 2 },
    });
    expect(updated.status).toBe(200);
    expect(JSON.stringify(updated.body)).not.toContain('client_secret"');
    expect(f.sim.state.getServiceToken(token.id)).toMatchObject({ client_secret_version: 2 });
    expect(await probe(f.sim, appId(), token.clientId, token.clientSecret)).toBe(403);
  });

  it('refresh sets expires_at to now plus the duration and revives an expired token', async () => {
    const created = await f.warden.zeroTrust.access.serviceTokens.create({
      account_id: f.demo.accountId,
      name: 'short',
      duration: '1h',
    });
    const id = required(created.id);
    f.sim.clock.advance(2 * 3_600_000);
    expect(
      f.sim.state.isServiceTokenCredentialValid(required(created.client_id), required(created.client_secret)),
    ).toBe(false);
    const before = f.sim.clock.now();
    const refreshed = await f.warden.zeroTrust.access.serviceTokens.refresh(id, { account_id: f.demo.accountId });
    const expiresAt = Date.parse(required(refreshed.expires_at));
    expect(expiresAt).toBeGreaterThanOrEqual(before + 3_600_000);
    expect(expiresAt).toBeLessThanOrEqual(f.sim.clock.now() + 3_600_000);
    expect(
      f.sim.state.isServiceTokenCredentialValid(required(created.client_id), required(created.client_secret)),
    ).toBe(true);
  });

  it('rejects both secrets of a disabled token and accepts them again once re-enabled', async () => {
    const token = await tokenOnDemoApp('switch');
    await f.warden.zeroTrust.access.serviceTokens.update(token.id, { account_id: f.demo.accountId, enabled: false });
    expect(await probe(f.sim, appId(), token.clientId, token.clientSecret)).toBe(403);
    await f.warden.zeroTrust.access.serviceTokens.update(token.id, { account_id: f.demo.accountId, enabled: true });
    expect(await probe(f.sim, appId(), token.clientId, token.clientSecret)).toBe(200);
  });

  it('answers 403 on the probe for a valid token no policy of the app names', async () => {
    const created = await f.warden.zeroTrust.access.serviceTokens.create({
      account_id: f.demo.accountId,
      name: 'stranger',
    });
    expect(await probe(f.sim, appId(), required(created.client_id), required(created.client_secret))).toBe(403);
    expect(await probe(f.sim, appId(), required(created.client_id), 'not-the-secret')).toBe(403);
  });

  it('pages lists until an empty page ends for-await', async () => {
    const seeded = f.sim.state.serviceTokens.list({ kind: 'account', accountId: f.demo.accountId }).length;
    for (let i = 0; i < 26 - seeded; i += 1)
      f.sim.state.createServiceToken({ accountId: f.demo.accountId, name: `bulk-${i}` });
    f.sim.calls.reset();
    const names: string[] = [];
    for await (const token of f.warden.zeroTrust.access.serviceTokens.list({
      account_id: f.demo.accountId,
      per_page: 10,
    })) {
      names.push(required(token.name));
    }
    expect(names).toHaveLength(26);
    expect(new Set(names).size).toBe(26);
    expect(f.sim.calls.count('access-service-tokens-list-service-tokens', 200)).toBe(4);
  });

  it('filters the list by name and search', async () => {
    const byName = await f.warden.zeroTrust.access.serviceTokens.list({
      account_id: f.demo.accountId,
      name: 'ci-deploy',
    });
    expect(byName.result.map((t) => t.name)).toEqual(['ci-deploy']);
    const bySearch = await f.warden.zeroTrust.access.serviceTokens.list({ account_id: f.demo.accountId, search: 'o' });
    expect(bySearch.result.map((t) => t.name).sort()).toEqual([
      'backup-job',
      'chaos-consumer',
      'ci-deploy',
      'legacy-deploy-bot',
      'vendor-integration',
    ]);
  });

  it('manages zone-level tokens under their zone only', async () => {
    const zone = { zone_id: f.demo.zoneId };
    const created = await f.warden.zeroTrust.access.serviceTokens.create({ ...zone, name: 'zone token' });
    const id = required(created.id);
    expect((await f.warden.zeroTrust.access.serviceTokens.get(id, zone)).name).toBe('zone token');
    expect((await f.warden.zeroTrust.access.serviceTokens.update(id, { ...zone, name: 'renamed' })).name).toBe(
      'renamed',
    );
    await expect(
      f.warden.zeroTrust.access.serviceTokens.get(id, { account_id: f.demo.accountId }),
    ).rejects.toMatchObject({ status: 404 });
    await f.warden.zeroTrust.access.serviceTokens.delete(id, zone);
    await expect(f.warden.zeroTrust.access.serviceTokens.get(id, zone)).rejects.toMatchObject({ status: 404 });
  });

  it('returns client_secret only from create and rotate', async () => {
    const token = required(f.demo.apiTokens.warden.value);
    const base = `/accounts/${f.demo.accountId}/access/service_tokens`;
    const created = await raw(f.sim, 'POST', base, { token, body: { name: 'secretive' } });
    expect(created.status).toBe(201);
    expect(JSON.stringify(created.body)).toContain('"client_secret"');
    const id = (created.body as { result: { id: string } }).result.id;
    for (const [method, path, body] of [
      ['GET', base, undefined],
      ['GET', `${base}/${id}`, undefined],
      ['PUT', `${base}/${id}`, { name: 'renamed' }],
      ['POST', `${base}/${id}/refresh`, undefined],
    ] as const) {
      const response = await raw(f.sim, method, path, { token, ...(body ? { body } : {}) });
      expect(response.status).toBe(200);
      expect(JSON.stringify(response.body)).not.toContain('"client_secret"');
    }
    const rotated = await raw(f.sim, 'POST', `${base}/${id}/rotate`, { token, body: {} });
    expect(JSON.stringify(rotated.body)).toContain('"client_secret"');
    const deleted = await raw(f.sim, 'DELETE', `${base}/${id}`, { token });
    expect(deleted.status).toBe(200);
    expect(JSON.stringify(deleted.body)).not.toContain('"client_secret"');
  });

  it('keeps the rotation when the response is lost (apply-then-drop)', async () => {
    const token = await tokenOnDemoApp('dropped');
    f.sim.faults.add({
      match: { operationId: 'access-service-tokens-rotate-a-service-token' },
      applyThenDrop: true,
      times: 1,
    });
    const mutations = client(f.sim, required(f.demo.apiTokens.warden.value));
    await expect(
      mutations.zeroTrust.access.serviceTokens.rotate(token.id, {
        account_id: f.demo.accountId,
        previous_client_secret_expires_at: minutes(5),
      }),
    ).rejects.toBeInstanceOf(APIConnectionError);
    const after = await f.warden.zeroTrust.access.serviceTokens.get(token.id, { account_id: f.demo.accountId });
    expect(after).toMatchObject({ client_secret_version: 2 });
    expect(f.sim.calls.count('access-service-tokens-rotate-a-service-token', 'dropped')).toBe(1);
    // The lost secret is gone; the old one still works until the overlap ends.
    expect(await probe(f.sim, appId(), token.clientId, token.clientSecret)).toBe(200);
  });
});
