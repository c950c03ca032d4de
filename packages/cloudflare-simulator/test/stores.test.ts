import { client, errorCode, raw, required, startDemo, type DemoFixture } from './support';

let f: DemoFixture;

beforeEach(async () => {
  f = await startDemo();
});

afterEach(async () => {
  await f.sim.close();
});

describe('Workers script secrets', () => {
  it('stores a secret write-only: reads return the binding, never the text', async () => {
    const account_id = f.demo.accountId;
    const script_name = f.demo.workerScript.name;
    const put = await f.warden.workers.scripts.secrets.update(script_name, {
      account_id,
      name: 'CF_ACCESS_CLIENT_SECRET',
      text: 'hunter2',
      type: 'secret_text',
    });
    expect(put).toEqual({ name: 'CF_ACCESS_CLIENT_SECRET', type: 'secret_text' });
    expect(
      f.sim.state.workerSecretMatches({
        accountId: account_id,
        scriptName: script_name,
        name: 'CF_ACCESS_CLIENT_SECRET',
        value: 'hunter2',
      }),
    ).toBe(true);
    const response = await raw(
      f.sim,
      'GET',
      `/accounts/${account_id}/workers/scripts/${script_name}/secrets/CF_ACCESS_CLIENT_SECRET`,
      {
        token: required(f.demo.apiTokens.warden.value),
      },
    );
    expect(JSON.stringify(response.body)).not.toContain('hunter2');
  });

  it('applies a bulk patch as a JSON merge: objects upsert, null deletes, absent keeps', async () => {
    const account_id = f.demo.accountId;
    const script = f.demo.workerScript.name;
    const secrets = f.warden.workers.scripts.secrets;
    await secrets.update(script, { account_id, name: 'KEEP', text: 'k', type: 'secret_text' });
    await secrets.update(script, { account_id, name: 'DROP', text: 'd', type: 'secret_text' });
    const result = await secrets.bulkUpdate(script, {
      account_id,
      secrets: { DROP: null, NEW: { name: 'NEW', text: 'n', type: 'secret_text' } },
    });
    expect(Object.keys(result).sort()).toEqual(['KEEP', 'NEW']);
    expect(f.sim.state.workerSecretNames({ accountId: account_id, scriptName: script }).sort()).toEqual([
      'KEEP',
      'NEW',
    ]);
  });

  it('answers 404 code 10007 for a script that does not exist, and decodes url_encoded names', async () => {
    const account_id = f.demo.accountId;
    const missing = await raw(f.sim, 'GET', `/accounts/${account_id}/workers/scripts/nope/secrets`, {
      token: required(f.demo.apiTokens.warden.value),
    });
    expect([missing.status, errorCode(missing.body)]).toEqual([404, 10007]);
    const script = f.demo.workerScript.name;
    await f.warden.workers.scripts.secrets.update(script, { account_id, name: 'a/b', text: 'x', type: 'secret_text' });
    await expect(
      f.warden.workers.scripts.secrets.get(encodeURIComponent('a/b'), {
        account_id,
        script_name: script,
        url_encoded: true,
      }),
    ).resolves.toMatchObject({ name: 'a/b' });
  });

  it('keeps dispatch-namespace scripts apart from account scripts', async () => {
    const account_id = f.demo.accountId;
    const { namespace, name } = f.demo.dispatchScript;
    await f.warden.workersForPlatforms.dispatch.namespaces.scripts.secrets.update(name, {
      account_id,
      dispatch_namespace: namespace,
      name: 'TENANT',
      text: 't',
      type: 'secret_text',
    });
    expect(
      f.sim.state.workerSecretMatches({
        accountId: account_id,
        scriptName: name,
        dispatchNamespace: namespace,
        name: 'TENANT',
        value: 't',
      }),
    ).toBe(true);
    await expect(f.warden.workers.scripts.secrets.list(name, { account_id })).rejects.toMatchObject({ status: 404 });
  });

  it('needs Workers Scripts Write to change secrets; Read is enough to list them', async () => {
    const reader = f.sim.state.createApiToken({
      owner: { accountId: f.demo.accountId },
      name: 'scripts reader',
      permissions: ['Workers Scripts Read'],
    });
    const sdk = client(f.sim, reader.value);
    const script = f.demo.workerScript.name;
    await expect(sdk.workers.scripts.secrets.list(script, { account_id: f.demo.accountId })).resolves.toBeDefined();
    await expect(
      sdk.workers.scripts.secrets.update(script, {
        account_id: f.demo.accountId,
        name: 'X',
        text: 'x',
        type: 'secret_text',
      }),
    ).rejects.toMatchObject({ status: 403 });
  });
});

describe('Secrets Store', () => {
  const storeId = (): string => f.demo.secretsStore.id;

  it('counts secrets against the account quota and refuses to go past it', async () => {
    const account_id = f.demo.accountId;
    f.sim.state.setSecretsQuota(3);
    await f.warden.secretsStore.stores.secrets.create(storeId(), {
      account_id,
      body: [
        { name: 'A', value: 'a', scopes: ['workers'] },
        { name: 'B', value: 'b', scopes: ['workers'] },
      ],
    });
    await expect(f.warden.secretsStore.quota.get({ account_id })).resolves.toEqual({ secrets: { quota: 3, usage: 2 } });
    const over = f.warden.secretsStore.stores.secrets.create(storeId(), {
      account_id,
      body: [
        { name: 'C', value: 'c', scopes: ['workers'] },
        { name: 'D', value: 'd', scopes: ['workers'] },
      ],
    });
    await expect(over).rejects.toMatchObject({ status: 400 });
    await expect(f.warden.secretsStore.quota.get({ account_id })).resolves.toEqual({ secrets: { quota: 3, usage: 2 } });
  });

  it('refuses duplicate names with 409 and duplicates a secret with its value', async () => {
    const account_id = f.demo.accountId;
    const created = await f.warden.secretsStore.stores.secrets.create(storeId(), {
      account_id,
      body: [{ name: 'ORIGINAL', value: 'v', scopes: ['workers'] }],
    });
    const original = required(created.result[0]);
    await expect(
      f.warden.secretsStore.stores.secrets.create(storeId(), {
        account_id,
        body: [{ name: 'ORIGINAL', value: 'w', scopes: ['workers'] }],
      }),
    ).rejects.toMatchObject({ status: 409 });
    const copy = await f.warden.secretsStore.stores.secrets.duplicate(original.id, {
      account_id,
      store_id: storeId(),
      name: 'COPY',
      scopes: ['ai_gateway'],
    });
    expect(copy).toMatchObject({ name: 'COPY', scopes: ['ai_gateway'], store_id: storeId() });
    expect(f.sim.state.secretsStoreSecretMatches({ storeId: storeId(), name: 'COPY', value: 'v' })).toBe(true);
    await f.warden.secretsStore.stores.secrets.edit(original.id, { account_id, store_id: storeId(), value: 'v2' });
    expect(f.sim.state.secretsStoreSecretMatches({ storeId: storeId(), name: 'ORIGINAL', value: 'v2' })).toBe(true);
  });

  it('deletes in bulk all or nothing, and deletes a non-empty store only with force', async () => {
    const account_id = f.demo.accountId;
    const created = await f.warden.secretsStore.stores.secrets.create(storeId(), {
      account_id,
      body: [
        { name: 'X', value: 'x', scopes: ['workers'] },
        { name: 'Y', value: 'y', scopes: ['workers'] },
      ],
    });
    const ids = created.result.map((s) => s.id);
    await expect(
      f.warden.secretsStore.stores.secrets.bulkDelete(
        storeId(),
        { account_id },
        { body: { ids: [...ids, 'f'.repeat(32)] } },
      ),
    ).rejects.toMatchObject({ status: 404 });
    await expect(f.warden.secretsStore.stores.delete(storeId(), { account_id })).rejects.toMatchObject({ status: 409 });
    await f.warden.secretsStore.stores.secrets.bulkDelete(
      storeId(),
      { account_id },
      { body: { ids: [required(ids[0])] } },
    );
    await f.warden.secretsStore.stores.delete(storeId(), { account_id, force: true });
    await expect(f.warden.secretsStore.stores.get(storeId(), { account_id })).rejects.toMatchObject({ status: 404 });
  });

  it('filters and pages the secret list until an empty page', async () => {
    const account_id = f.demo.accountId;
    const body = Array.from({ length: 12 }, (_, i) => {
      const scopes: Array<'workers' | 'access'> = i % 2 === 0 ? ['workers', 'access'] : ['workers'];
      return { name: `S${String(i).padStart(2, '0')}`, value: `v${i}`, scopes, comment: i === 3 ? 'the odd one' : '' };
    });
    await f.warden.secretsStore.stores.secrets.create(storeId(), { account_id, body });
    const all = [];
    for await (const s of f.warden.secretsStore.stores.secrets.list(storeId(), {
      account_id,
      per_page: 5,
      order: 'name',
    }))
      all.push(s.name);
    expect(all).toEqual(body.map((s) => s.name));
    const withAccess = await f.warden.secretsStore.stores.secrets.list(storeId(), {
      account_id,
      scopes: ['access'],
      per_page: 50,
    });
    expect(withAccess.result).toHaveLength(6);
    const searched = await f.warden.secretsStore.stores.secrets.list(storeId(), { account_id, search: 'odd' });
    expect(searched.result.map((s) => s.name)).toEqual(['S03']);
  });
});
