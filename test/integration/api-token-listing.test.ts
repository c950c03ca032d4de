import { createHash } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { fingerprintToken } from '../../src/activities/token-subject';
import { apiTokenRotationWorkflowId, findApiToken } from '../../src/inventory';
import { startApiTokenFixture, type ApiTokenFixture } from '../support/api-token-fixture';

const DAY_MS = 86_400_000;

describe('GET /api-tokens on the real stack', () => {
  let f: ApiTokenFixture;
  let app: FastifyInstance;

  beforeAll(async () => {
    f = await startApiTokenFixture([
      { name: 'deploy-bot', kind: 'account', expiresInDays: 100, renewBefore: '240h' },
      { name: 'warden', kind: 'user', self: true, stores: 'file' },
    ]);
    app = await f.stack.app();
  });
  afterAll(async () => f?.close());

  const list = (query = '') => app.inject({ method: 'GET', url: `/api-tokens${query}`, headers: f.stack.auth });
  const workflowId = (name: string) => apiTokenRotationWorkflowId(findApiToken(f.stack.inventory, f.accountId, name)!);
  const byName = (body: { data: { api_tokens: Array<{ name: string }> } }, name: string) =>
    body.data.api_tokens.find((t) => t.name === name);

  it('lists every inventory API token with its rotate settings; nothing recorded yet is null, and no check is started', async () => {
    const start = jest.spyOn(f.stack.client.workflow, 'start');
    const response = await list();
    expect(response.statusCode).toBe(200);
    expect(start).not.toHaveBeenCalled();
    start.mockRestore();
    const body = response.json();
    expect(body.data.count).toBe(2);
    expect(byName(body, 'deploy-bot')).toEqual({
      name: 'deploy-bot',
      account_id: f.accountId,
      kind: 'account',
      self: false,
      rotate: {
        strategy: 'successor',
        renew_before: '240h',
        every: null,
        propagation_wait: '1s',
        targets: [expect.stringMatching(/^file:.*deploy-bot\.env$/), 'kubernetes:apps/deploy-bot'],
      },
      health: null,
      next_rotation_at: null,
      last_rotation: null,
      workflow_id: workflowId('deploy-bot'),
    });
    expect(byName(body, 'warden')).toMatchObject({ kind: 'user', self: true, workflow_id: workflowId('warden') });
  });

  it("answers with the newest recorded health check's verdict and the renewal date it implies", async () => {
    expect((await app.inject({ method: 'GET', url: '/tokens/health', headers: f.stack.auth })).statusCode).toBe(200);
    const [check] = await f.stack.history.listApiTokenChecks(1, 'health');
    const token = byName((await list()).json(), 'deploy-bot') as Record<string, unknown>;
    const expiresOn = f.stack.sim.state.apiTokens.get(f.tokens['deploy-bot']!.id)!.expires_on!;
    expect(token.health).toEqual({
      checked_at: expect.any(String),
      run_id: check!.runId,
      state: 'healthy',
      is_valid: true,
      expires_on: expiresOn,
      missing_permissions_count: 0,
    });
    expect(Date.parse(token.next_rotation_at as string)).toBe(Date.parse(expiresOn) - 10 * DAY_MS);
  });

  it('shows a rotation started through the API as completed, with its run id and mode', async () => {
    const started = await app.inject({
      method: 'POST',
      url: '/api-tokens/deploy-bot/rotate',
      headers: f.stack.auth,
      payload: { reason: 'listing test' },
    });
    expect(started.statusCode).toBe(202);
    await f.waitFor(workflowId('deploy-bot'));

    const response = await list(`?account_id=${f.accountId}`);
    expect(response.statusCode).toBe(200);
    expect(byName(response.json(), 'deploy-bot')).toMatchObject({
      last_rotation: {
        run_id: started.json().data.run_id,
        status: 'completed',
        mode: 'manual',
        started_at: expect.any(String),
        finished_at: expect.any(String),
      },
    });
    // Neither the old value nor the successor, nor any fingerprint of them, is in the answer.
    const raw = response.body;
    for (const value of [f.tokens['deploy-bot']!.value, f.fileValue('deploy-bot'), f.tokens.warden!.value]) {
      expect(value.length).toBeGreaterThan(10);
      for (const form of [value, fingerprintToken(value), createHash('sha256').update(value).digest('hex')])
        expect(raw).not.toContain(form);
    }
  });

  it('filters by account and refuses a malformed or unknown parameter with a 400', async () => {
    const other = await list(`?account_id=${'0'.repeat(32)}`);
    expect(other.statusCode).toBe(200);
    expect(other.json().data).toEqual({ api_tokens: [], count: 0 });
    for (const query of ['?account_id=not-an-account', '?account_id=%00', '?acount_id=' + f.accountId, '?limit=5']) {
      const response = await list(query);
      expect({ query, status: response.statusCode, code: response.json().error?.code }).toEqual({
        query,
        status: 400,
        code: 'validation_error',
      });
    }
    expect((await app.inject({ method: 'GET', url: '/api-tokens' })).statusCode).toBe(401);
  });
});
