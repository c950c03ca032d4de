import type Cloudflare from 'cloudflare';
import { API_PREFIX } from '../src';
import { Contract, recordingFetch, type RecordedExchange } from './contract';
import { client, required, startDemo, type DemoFixture } from './support';

/**
 * Drives every operation of both contracts through the real `cloudflare` SDK (the
 * x-sdk-method calls), records each whole response body and validates it against the
 * document's own schemas.
 */
const contract = new Contract({
  lifecycle: 'cloudflare-openapi/token-lifecycle.json',
  access: 'contracts/cloudflare-access-policies.json',
});

let f: DemoFixture;
const exchanges: RecordedExchange[] = [];
let warden: Cloudflare;
let accountToken: Cloudflare;

beforeAll(async () => {
  f = await startDemo();
  const fetch = recordingFetch(API_PREFIX, exchanges);
  warden = client(f.sim, required(f.demo.apiTokens.warden.value), { fetch });
  accountToken = client(f.sim, required(f.demo.apiTokens.account.value), { fetch });
  await driveEveryOperation();
});

afterAll(async () => {
  await f.sim.close();
});

async function driveEveryOperation(): Promise<void> {
  const account_id = f.demo.accountId;
  const zone_id = f.demo.zoneId;
  const soon = new Date(Date.now() + 60_000).toISOString();

  // Access service tokens, account level
  const st = warden.zeroTrust.access.serviceTokens;
  for await (const token of st.list({ account_id })) expect(token.id).toBeDefined();
  const created = await st.create({ account_id, name: 'contract', duration: '720h' });
  const stId = required(created.id);
  await st.get(stId, { account_id });
  await st.update(stId, { account_id, name: 'contract renamed' });
  await st.refresh(stId, { account_id });
  await st.rotate(stId, { account_id, previous_client_secret_expires_at: soon });
  await st.delete(stId, { account_id });

  // Access service tokens, zone level
  for await (const token of st.list({ zone_id })) expect(token.id).toBeDefined();
  const zoneToken = await st.create({ zone_id, name: 'zone contract' });
  const zoneTokenId = required(zoneToken.id);
  await st.get(zoneTokenId, { zone_id });
  await st.update(zoneTokenId, { zone_id, enabled: false });
  await st.delete(zoneTokenId, { zone_id });

  // Secrets Store
  const ss = warden.secretsStore;
  await ss.quota.get({ account_id });
  for await (const store of ss.stores.list({ account_id })) expect(store.id).toBeDefined();
  const store = await ss.stores.create({ account_id, name: 'contract-store' });
  await ss.stores.get(store.id, { account_id });
  const secrets = await ss.stores.secrets.create(store.id, {
    account_id,
    body: [
      { name: 'ONE', value: 'v1', scopes: ['workers'] },
      { name: 'TWO', value: 'v2', scopes: ['workers', 'ai_gateway'], comment: 'second' },
    ],
  });
  const [one, two] = secrets.result;
  for await (const secret of ss.stores.secrets.list(store.id, { account_id })) expect(secret.id).toBeDefined();
  await ss.stores.secrets.get(required(one).id, { account_id, store_id: store.id });
  await ss.stores.secrets.edit(required(one).id, { account_id, store_id: store.id, value: 'v1b', comment: 'patched' });
  const copy = await ss.stores.secrets.duplicate(required(two).id, {
    account_id,
    store_id: store.id,
    name: 'TWO_COPY',
    scopes: ['workers'],
  });
  await ss.stores.secrets.delete(copy.id, { account_id, store_id: store.id });
  await ss.stores.secrets.bulkDelete(store.id, { account_id }, { body: { ids: [required(one).id] } });
  await ss.stores.delete(store.id, { account_id, force: true });

  // Account-owned API tokens
  const at = warden.accounts.tokens;
  for await (const token of at.list({ account_id })) expect(token.id).toBeDefined();
  for await (const group of at.permissionGroups.list({ account_id })) expect(group.id).toBeDefined();
  await accountToken.accounts.tokens.verify({ account_id });
  const workersWrite = required(f.sim.state.getApiToken(required(f.demo.apiTokens.account.id))).policies as Array<{
    permission_groups: Array<{ id: string }>;
  }>;
  const groupId = required(workersWrite[0]?.permission_groups[0]).id;
  const policies = [
    {
      effect: 'allow' as const,
      permission_groups: [{ id: groupId }],
      resources: { [`com.cloudflare.api.account.${account_id}`]: '*' },
    },
  ];
  const accountCreated = await at.create({ account_id, name: 'contract account token', policies });
  const accountTokenId = required(accountCreated.id);
  await at.get(accountTokenId, { account_id });
  await at.update(accountTokenId, { account_id, name: 'contract account token 2', policies });
  await at.value.update(accountTokenId, { account_id });
  await at.delete(accountTokenId, { account_id });

  // Workers scripts and dispatch-namespace scripts
  const script_name = f.demo.workerScript.name;
  const ws = warden.workers.scripts.secrets;
  await ws.update(script_name, { account_id, name: 'API_KEY', text: 'secret-1', type: 'secret_text' });
  await ws.bulkUpdate(script_name, {
    account_id,
    secrets: { OTHER: { name: 'OTHER', text: 'secret-2', type: 'secret_text' } },
  });
  for await (const secret of ws.list(script_name, { account_id })) expect(secret.name).toBeDefined();
  await ws.get('API_KEY', { account_id, script_name });
  await ws.delete('API_KEY', { account_id, script_name });
  const { namespace: dispatch_namespace, name: dispatchScript } = f.demo.dispatchScript;
  const ds = warden.workersForPlatforms.dispatch.namespaces.scripts.secrets;
  await ds.update(dispatchScript, {
    account_id,
    dispatch_namespace,
    name: 'TENANT_KEY',
    text: 'secret-3',
    type: 'secret_text',
  });
  await ds.bulkUpdate(dispatchScript, { account_id, dispatch_namespace, secrets: { TENANT_KEY: null } });
  await ds.update(dispatchScript, {
    account_id,
    dispatch_namespace,
    name: 'TENANT_KEY',
    text: 'secret-4',
    type: 'secret_text',
  });
  for await (const secret of ds.list(dispatchScript, { account_id, dispatch_namespace }))
    expect(secret.name).toBeDefined();
  await ds.get('TENANT_KEY', { account_id, dispatch_namespace, script_name: dispatchScript });
  await ds.delete('TENANT_KEY', { account_id, dispatch_namespace, script_name: dispatchScript });

  // User API tokens
  const ut = warden.user.tokens;
  for await (const token of ut.list()) expect(token.id).toBeDefined();
  for await (const group of ut.permissionGroups.list()) expect(group.id).toBeDefined();
  await ut.verify();
  const userPolicies = [
    {
      effect: 'allow' as const,
      permission_groups: [{ id: groupId }],
      resources: { [`com.cloudflare.api.account.${account_id}`]: '*' },
    },
  ];
  const userCreated = await ut.create({
    name: 'contract user token',
    policies: userPolicies,
    expires_on: new Date(Date.now() + 86_400_000).toISOString(),
  });
  const userTokenId = required(userCreated.id);
  await ut.get(userTokenId);
  await ut.update(userTokenId, { name: 'contract user token 2', policies: userPolicies });
  await ut.value.update(userTokenId);
  await ut.delete(userTokenId);

  // Access policies and applications
  const ap = warden.zeroTrust.access;
  for await (const policy of ap.policies.list({ account_id })) expect(policy.id).toBeDefined();
  const reusable = await ap.policies.create({
    account_id,
    name: 'contract reusable',
    decision: 'non_identity',
    include: [{ any_valid_service_token: {} }],
  });
  const reusableId = required(reusable.id);
  await ap.policies.get(reusableId, { account_id });
  await ap.policies.update(reusableId, {
    account_id,
    name: 'contract reusable 2',
    decision: 'non_identity',
    include: [{ any_valid_service_token: {} }],
  });
  await ap.policies.delete(reusableId, { account_id });
  for await (const app of ap.applications.list({ account_id })) expect(app).toBeDefined();
  const app_id = f.demo.accessApp.id;
  await ap.applications.get(app_id, { account_id });
  for await (const policy of ap.applications.policies.list(app_id, { account_id })) expect(policy.id).toBeDefined();
  const appScoped = f.demo.accessPolicies.appScoped.id;
  await ap.applications.policies.get(appScoped, { account_id, app_id });
  await ap.applications.policies.update(appScoped, {
    account_id,
    app_id,
    name: 'backup job',
    decision: 'non_identity',
    include: [{ service_token: { token_id: required(f.demo.serviceTokens.find((t) => t.name === 'backup-job')).id } }],
    precedence: 7,
  });

  // A few failures, validated against the operations' failure schemas.
  await expect(st.get('00000000-0000-4000-8000-000000000000', { account_id })).rejects.toMatchObject({ status: 404 });
  await expect(accountToken.user.tokens.verify()).rejects.toMatchObject({ status: 401 });
  await expect(accountToken.zeroTrust.access.serviceTokens.list({ account_id })).rejects.toMatchObject({ status: 403 });
  f.sim.faults.add({ match: { operationId: 'user-api-tokens-list-tokens' }, status: 429, retryAfter: 3, times: 1 });
  await expect(ut.list()).rejects.toMatchObject({ status: 429 });
}

describe('contract', () => {
  it('answers every recorded exchange on a route of one of the documents', () => {
    const unmatched = exchanges.filter((e) => !contract.match(e.method, e.path)).map((e) => `${e.method} ${e.path}`);
    expect(unmatched).toEqual([]);
  });

  it('validates every response body against the document schema for its status', () => {
    const failures: string[] = [];
    for (const exchange of exchanges) {
      const op = contract.match(exchange.method, exchange.path);
      if (!op) continue;
      const problem = contract.validate(op, exchange.status, exchange.body);
      if (problem) failures.push(`${op.operationId} ${exchange.status}: ${problem}`);
    }
    expect(failures).toEqual([]);
    expect(exchanges.some((e) => e.status >= 400)).toBe(true);
  });

  it('has validators that catch a body breaking the schema', () => {
    const get = required(contract.match('GET', `/accounts/${f.demo.accountId}/access/service_tokens/some-id`));
    expect(contract.validate(get, 200, { success: true, errors: [], messages: [], result: { id: 5 } })).not.toBeNull();
    expect(contract.validate(get, 404, { success: true, errors: [], messages: [], result: null })).not.toBeNull();
    const apps = required(contract.match('GET', `/accounts/${f.demo.accountId}/access/apps`));
    expect(
      contract.validate(apps, 200, { success: true, errors: [], messages: [], result: [{ id: 5 }] }),
    ).not.toBeNull();
  });

  it('covers every operation of both documents with a successful call', () => {
    const covered = new Set(
      exchanges.filter((e) => e.status < 300).map((e) => contract.match(e.method, e.path)?.operationId),
    );
    const missing = contract.operations.map((op) => op.operationId).filter((id) => !covered.has(id));
    expect(missing).toEqual([]);
    expect(contract.operations).toHaveLength(60);
  });

  it('returns a secret only from the operations marked x-returns-secret', () => {
    const secretKeys = /"(client_secret|value)"\s*:/;
    for (const exchange of exchanges.filter((e) => e.status < 300)) {
      const op = required(contract.match(exchange.method, exchange.path));
      const carriesSecret = secretKeys.test(JSON.stringify(exchange.body));
      if (!op.returnsSecret)
        expect({ op: op.operationId, carriesSecret }).toEqual({ op: op.operationId, carriesSecret: false });
    }
  });

  it('registers exactly the documents’ operations, each needing the x-api-token-group permissions', () => {
    const registered = new Map(f.sim.operations().map((op) => [op.operationId, op]));
    expect([...registered.keys()].sort()).toEqual(contract.operations.map((op) => op.operationId).sort());
    for (const op of contract.operations) {
      const route = required(registered.get(op.operationId));
      expect(`${route.method} ${route.url.replace(/:(\w+)/g, '{$1}')}`).toBe(`${op.method} ${op.template}`);
      if (op.tokenGroups)
        expect({ op: op.operationId, groups: [...route.auth.groups].sort() }).toEqual({
          op: op.operationId,
          groups: [...op.tokenGroups].sort(),
        });
    }
  });
});
