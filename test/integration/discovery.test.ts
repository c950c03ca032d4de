import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { DEMO_UNACCOUNTED } from '@token-warden/cloudflare-simulator';
import { loadInventoryFile, parseInventory } from '../../src/config';
import { demoVariables } from '../../src/runtime/demo';
import type { DiscoverySummary } from '../../src/activities/discovery';
import { startStack, type Stack } from '../support/stack';

interface Wire {
  account_id: string;
  kind: string;
  id: string;
  name: string;
  managed: boolean;
  inventory_name: string | null;
  expires_in_days: number | null;
  unused_days: number;
  over_privileged: string[] | null;
  first_discovered_at: string;
  gone_at: string | null;
}

/** One paginated list per kind and account: account and zone service tokens, account API tokens, the user's tokens. */
const LIST_OPERATIONS = [
  'access-service-tokens-list-service-tokens',
  'zone-level-access-service-tokens-list-service-tokens',
  'account-api-tokens-list-tokens',
  'user-api-tokens-list-tokens',
];

/**
 * discoverCredentials on the demo account through the real stack: the schedule's workflow on the
 * dev server, its activities listing the simulator through the SDK and the request budget, the
 * records in Postgres, read back through the API and /metrics.
 */
describe('credential discovery on the demo account', () => {
  let stack: Stack;
  let app: FastifyInstance;
  let dir: string;
  let first: DiscoverySummary;

  const get = async (url: string) => app.inject({ method: 'GET', url, headers: stack.auth });
  const listed = async (query: string): Promise<Wire[]> => {
    const response = await get(`/inventory/discovered${query}`);
    expect(response.statusCode).toBe(200);
    return response.json().data.credentials;
  };
  const names = (rows: Wire[]) => rows.map((row) => row.name).sort();
  const secrets = () => {
    const demo = stack.sim.demo!;
    return [
      ...Object.values(demo.apiTokens).map((t) => t.value),
      ...demo.serviceTokens.map((t) => t.clientSecret),
    ].filter((value): value is string => Boolean(value));
  };
  const discover = async (): Promise<DiscoverySummary> => {
    const response = await app.inject({ method: 'POST', url: '/inventory/discover', headers: stack.auth });
    expect(response.statusCode).toBe(202);
    const { workflow_id: workflowId } = response.json().data;
    return stack.client.workflow.getHandle(workflowId).result();
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tw-discovery-'));
    stack = await startStack({
      simulator: { seed: 'demo' },
      secretEnv: (sim) => demoVariables(sim, dir),
      inventory: (sim) => {
        const inventory = loadInventoryFile(path.resolve(__dirname, '../../config/demo.inventory.yaml'), {
          ...demoVariables(sim, dir),
        });
        return inventory;
      },
    });
    await stack.startWorkers();
    app = await stack.app();
    // A health check first, as the 6-hourly schedule does: it learns the inventory tokens' ids.
    expect((await get('/tokens/health')).statusCode).toBe(200);
    stack.sim.calls.reset();
    first = await discover();
  });
  afterAll(async () => {
    await stack?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('spends one list request per kind and account, as the simulator logged them', () => {
    const counts = stack.sim.calls.counts();
    console.log(`discovery: ${first.cloudflareCalls} Cloudflare requests`, counts);
    expect(counts).toEqual(Object.fromEntries(LIST_OPERATIONS.map((operation) => [operation, { '200': 1 }])));
    expect(first.cloudflareCalls).toBe(LIST_OPERATIONS.length);
  });

  it('reports the unmanaged, never-expiring and unused credentials seeded for the demo account', async () => {
    const all = await listed('?limit=200');
    expect(names(all.filter((row) => row.managed))).toEqual(
      [
        'CLOUDFLARE_ACCOUNT_TOKEN',
        'CLOUDFLARE_USER_TOKEN',
        'backup-job',
        'ci-deploy',
        'legacy-zone-probe',
        'token-warden',
      ].sort(),
    );
    expect(names(await listed('?unmanaged=true'))).toEqual(
      [
        'chaos-consumer',
        DEMO_UNACCOUNTED.neverExpiringServiceToken,
        DEMO_UNACCOUNTED.unusedServiceToken,
        DEMO_UNACCOUNTED.unusedAccountApiToken,
        DEMO_UNACCOUNTED.neverUsedUserApiToken,
      ].sort(),
    );
    expect(names(await listed('?unmanaged=true&no_expiry=true'))).toEqual(
      [
        DEMO_UNACCOUNTED.neverExpiringServiceToken,
        DEMO_UNACCOUNTED.unusedAccountApiToken,
        DEMO_UNACCOUNTED.neverUsedUserApiToken,
      ].sort(),
    );
    expect(names(await listed('?unused_days=90'))).toEqual(
      [
        DEMO_UNACCOUNTED.neverExpiringServiceToken,
        DEMO_UNACCOUNTED.unusedServiceToken,
        DEMO_UNACCOUNTED.unusedAccountApiToken,
        DEMO_UNACCOUNTED.neverUsedUserApiToken,
      ].sort(),
    );
    const unused = await listed(`?unused_days=90&kind=account-api-token`);
    expect(unused.map((row) => [row.name, row.unused_days])).toEqual([[DEMO_UNACCOUNTED.unusedAccountApiToken, 180]]);
    // backup-job expires in 20 days.
    expect((await listed('?expiring_days=30')).map((row) => [row.name, row.expires_in_days])).toEqual([
      ['backup-job', 19],
    ]);
    expect(first).toMatchObject({ accounts: 1, credentials: all.length, unmanaged: 5, gone: 0 });
  });

  it("compares a managed API token's permissions with the inventory's required list", async () => {
    const [user] = (await listed('?kind=user-api-token')).filter((row) => row.name === 'CLOUDFLARE_USER_TOKEN');
    // The demo user token holds every group; the inventory requires API Tokens Write only.
    expect(user).toMatchObject({ managed: true, inventory_name: 'user-token' });
    expect(user!.over_privileged).toEqual(expect.arrayContaining(['Workers Scripts Write', 'D1 Write']));
    expect(user!.over_privileged).not.toContain('API Tokens Write');
    const [unmanaged] = await listed(`?kind=user-api-token&unmanaged=true`);
    expect(unmanaged).toMatchObject({ name: DEMO_UNACCOUNTED.neverUsedUserApiToken, over_privileged: null });
  });

  it('pages newest first with next_before, every row once, and filters by account', async () => {
    const all = await listed('?limit=200');
    const seen: Wire[] = [];
    let cursor: string | null = null;
    do {
      const response = await get(`/inventory/discovered?limit=3${cursor ? `&before=${cursor}` : ''}`);
      expect(response.statusCode).toBe(200);
      seen.push(...response.json().data.credentials);
      cursor = response.json().data.next_before;
    } while (cursor);
    expect(seen.map((row) => row.id)).toEqual(all.map((row) => row.id));
    expect(await listed(`?account=${stack.sim.demo!.accountId}&limit=200`)).toHaveLength(all.length);
    expect(await listed(`?account=${'0'.repeat(32)}`)).toEqual([]);
  });

  it('refuses bad filters with a 400 naming them', async () => {
    for (const query of [
      'unmanaged=yes',
      'no_expiry=1',
      'unused_days=-1',
      'unused_days=5.5',
      'expiring_days=abc',
      'kind=password',
      'account=not-an-account',
      'limit=0',
      'before=r123-00',
    ]) {
      const response = await get(`/inventory/discovered?${query}`);
      expect([query, response.statusCode]).toEqual([query, 400]);
      expect(response.json().success).toBe(false);
    }
  });

  it('offers an inventory snippet that adopts a discovered token by reference, never a secret', async () => {
    const [laptop] = await listed('?kind=user-api-token&unmanaged=true');
    const response = await get(`/inventory/discovered/user-api-token/${laptop!.id}/adopt`);
    expect(response.statusCode).toBe(200);
    const { yaml } = response.json().data;
    for (const secret of secrets()) expect(response.body).not.toContain(secret);
    const adopted = parseInventory(yaml, 'snippet', {});
    expect(adopted.accounts[0]!.apiTokens[0]).toMatchObject({
      name: 'laptop-script',
      kind: 'user',
      id: laptop!.id,
      secretFrom: { env: 'LAPTOP_SCRIPT_CLOUDFLARE_TOKEN' },
      requiredPermissions: ['Workers Scripts Write'],
    });
    const [bot] = (await listed('?kind=service-token&no_expiry=true')).filter(
      (row) => row.name === DEMO_UNACCOUNTED.neverExpiringServiceToken,
    );
    const service = await get(`/inventory/discovered/service-token/${bot!.id}/adopt`);
    expect(parseInventory(service.json().data.yaml, 'snippet', {}).accounts[0]!.serviceTokens[0]).toMatchObject({
      name: DEMO_UNACCOUNTED.neverExpiringServiceToken,
      strategy: 'rotate-secret',
    });
    expect((await get(`/inventory/discovered/service-token/${'f'.repeat(32)}/adopt`)).statusCode).toBe(404);
  });

  it('exports the unmanaged and never-expiring counts per account and kind', async () => {
    const body = (await get('/metrics')).body;
    const account = stack.sim.demo!.accountId;
    expect(body).toContain(`token_warden_unmanaged_credentials{account_id="${account}",kind="service-token"} 3`);
    expect(body).toContain(`token_warden_unmanaged_credentials{account_id="${account}",kind="user-api-token"} 1`);
    expect(body).toContain(`token_warden_credentials_without_expiry{account_id="${account}",kind="service-token"} 1`);
  });

  it('is idempotent on a second run and marks a token deleted meanwhile as gone', async () => {
    const before = await listed('?limit=200');
    const [bot] = before.filter((row) => row.name === DEMO_UNACCOUNTED.neverExpiringServiceToken);
    stack.sim.state.serviceTokens.delete({ kind: 'account', accountId: stack.sim.demo!.accountId }, bot!.id);
    stack.sim.calls.reset();
    const second = await discover();
    expect(second).toMatchObject({ credentials: before.length - 1, gone: 1, cloudflareCalls: LIST_OPERATIONS.length });
    expect(stack.sim.calls.total()).toBe(LIST_OPERATIONS.length);
    const after = await listed('?limit=200');
    expect(after.map((row) => row.id)).toEqual(before.filter((row) => row.id !== bot!.id).map((row) => row.id));
    // Rows seen again keep when they were first discovered.
    expect(after.map((row) => row.first_discovered_at)).toEqual(
      before.filter((row) => row.id !== bot!.id).map((row) => row.first_discovered_at),
    );
    const gone = (await listed('?include_gone=true&limit=200')).filter((row) => row.gone_at !== null);
    expect(gone.map((row) => row.id)).toEqual([bot!.id]);
    const run = (await get('/inventory/discovered')).json().data.last_run;
    expect(run).toMatchObject({ gone: 1, cloudflare_calls: LIST_OPERATIONS.length });
  });

  it("reports a list token-warden's token may not read and leaves its rows alone", async () => {
    const before = await listed('?kind=user-api-token');
    stack.sim.faults.set({ match: { operationId: 'user-api-tokens-list-tokens' }, status: 403, times: 1 });
    const run = await discover();
    expect(run.skipped).toEqual([expect.stringMatching(/^user API tokens: HTTP 403/)]);
    expect(run).toMatchObject({ gone: 0, cloudflareCalls: LIST_OPERATIONS.length });
    expect((await listed('?kind=user-api-token')).map((row) => row.id)).toEqual(before.map((row) => row.id));
    const lastRun = (await get('/inventory/discovered')).json().data.last_run;
    expect(lastRun.skipped).toEqual(run.skipped);
  });
});
