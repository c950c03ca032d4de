import type { FastifyInstance } from 'fastify';
import { startStack, type Stack } from '../support/stack';

type Created = { id: string; value: string };

const HEALTHY_TOKEN = { is_valid: true, is_active: true, has_all_permissions: true, missing_permissions_count: 0 };

/**
 * `/tokens/status` answers from recorded state (DESIGN §5.7) and a health run spends the
 * minimum, counted on the simulator: one permission-group listing per run and one GET per
 * token once its identity is cached. The inventory is the demo's shape: an account token and a
 * user token, each able to read itself, beside token-warden's own token (three tokens in all).
 * The tests run in order against one simulated account.
 */
describe('token status from recorded state, and the request count of a health run', () => {
  let stack: Stack;
  let app: FastifyInstance;
  let accountId = '';
  let tokens: { warden: Created; account: Created; user: Created };

  const createTokens = (sim: Stack['sim']) => {
    if (accountId) return tokens;
    accountId = sim.state.createAccount({ name: 'status' }).id;
    tokens = {
      warden: sim.state.createApiToken({
        owner: 'user',
        name: 'token-warden',
        accountId,
        permissions: ['API Tokens Write', 'Account API Tokens Write'],
      }),
      account: sim.state.createApiToken({
        owner: { accountId },
        name: 'CLOUDFLARE_ACCOUNT_TOKEN',
        permissions: ['Workers Scripts Write', 'D1 Write', 'Account API Tokens Read'],
      }),
      user: sim.state.createApiToken({
        owner: 'user',
        name: 'CLOUDFLARE_USER_TOKEN',
        permissions: ['API Tokens Write'],
      }),
    };
    return tokens;
  };

  const status = async (query = '') => {
    const response = await app.inject({ method: 'GET', url: `/tokens/status${query}`, headers: stack.auth });
    for (const value of Object.values(tokens).map((t) => t.value)) expect(response.body).not.toContain(value);
    return response;
  };
  const healthRows = async () => stack.history.listApiTokenChecks(100, 'health');
  /** Moves the latest recorded check into the past, as if no one had checked for that long. */
  const age = async (ms: number) => {
    const [latest] = await healthRows();
    if (!latest) throw new Error('no recorded check to age');
    const timestamp = new Date(Date.now() - ms).toISOString();
    await stack.db.pool.query(
      `UPDATE api_token_checks SET results = jsonb_set(results, '{report,timestamp}', to_jsonb($2::text)) WHERE run_id = $1`,
      [latest.runId, timestamp],
    );
    return latest;
  };

  beforeAll(async () => {
    stack = await startStack({
      secretEnv: (sim) => {
        const created = createTokens(sim);
        return {
          CLOUDFLARE_API_TOKEN: created.warden.value,
          ACCOUNT_TOKEN: created.account.value,
          USER_TOKEN: created.user.value,
        };
      },
      inventory: (sim) => {
        createTokens(sim);
        return {
          accounts: [
            {
              id: accountId,
              apiTokens: [
                {
                  name: 'account-token',
                  kind: 'account',
                  secretFrom: { env: 'ACCOUNT_TOKEN' },
                  requiredPermissions: ['Workers Scripts: Edit', 'D1: Edit'],
                },
                {
                  name: 'user-token',
                  kind: 'user',
                  secretFrom: { env: 'USER_TOKEN' },
                  requiredPermissions: ['API Tokens: Edit'],
                },
              ],
            },
          ],
        };
      },
    });
    await stack.startWorkers();
    app = await stack.app();
  });
  afterAll(async () => {
    await stack?.close();
  });

  it('starts one check when nothing is recorded, and answers from it', async () => {
    stack.sim.calls.reset();
    const response = await status();
    expect(response.statusCode).toBe(200);
    const { data } = response.json();
    expect(Object.keys(data).slice(0, 4)).toEqual(['overall_health', 'account_token', 'user_token', 'recommendations']);
    expect(data).toMatchObject({
      overall_health: 'healthy',
      account_token: HEALTHY_TOKEN,
      user_token: HEALTHY_TOKEN,
      max_age_seconds: 900,
      stale: false,
      refresh_started: true,
      refresh: { workflow_id: `token-health/status-refresh/${stack.taskQueue}/first`, state: 'completed' },
      workflow_id: `token-health/status-refresh/${stack.taskQueue}/first`,
    });
    expect(data.age_seconds).toBeLessThan(60);
    const rows = await healthRows();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ runId: data.run_id, triggeredBy: 'api:test-client', autoHealAttempted: false });
    expect(data.checked_at).toBe((rows[0]?.results as { timestamp: string }).timestamp);
    // Nothing cached yet: each of the three tokens is verified and read once, plus the listing.
    expect(stack.sim.calls.total()).toBe(2 * 3 + 1);
  });

  it('answers from the record within the bound, with its age, at no Cloudflare request', async () => {
    const [recorded] = await healthRows();
    stack.sim.calls.reset();
    const answers = await Promise.all(Array.from({ length: 10 }, () => status()));
    for (const response of answers) {
      expect(response.statusCode).toBe(200);
      expect(response.json().data).toMatchObject({
        overall_health: 'healthy',
        workflow_id: recorded?.workflowId,
        run_id: recorded?.runId,
        stale: false,
        refresh_started: false,
        refresh: null,
      });
      expect(response.json().data.age_seconds).toBeGreaterThanOrEqual(0);
    }
    expect(stack.sim.calls.total()).toBe(0);
    expect(await healthRows()).toHaveLength(1);
  });

  it('spends one listing and one GET per token on a health run once identities are cached (N tokens → N + 1)', async () => {
    stack.sim.calls.reset();
    const response = await app.inject({ method: 'GET', url: '/tokens/health', headers: stack.auth });
    expect(response.statusCode).toBe(200);
    expect(response.json().data).toMatchObject({
      overall_health: 'healthy',
      self_audit: { token_id: tokens.warden.id, is_valid: true, has_all_needed_permissions: true },
    });
    expect(stack.sim.calls.counts()).toEqual({
      'permission-groups-list-permission-groups': { '200': 1 },
      'account-api-tokens-token-details': { '200': 1 },
      // the user token and token-warden's own (its self-audit), each reading itself
      'user-api-tokens-token-details': { '200': 2 },
    });
    expect(stack.sim.calls.total()).toBe(3 + 1);
  });

  it('starts exactly one check for 10 concurrent requests that find the record too old, and answers from it', async () => {
    const stale = await age(16 * 60_000);
    const before = (await healthRows()).length;
    stack.sim.calls.reset();
    const answers = await Promise.all(Array.from({ length: 10 }, () => status()));
    const data = answers.map((response) => {
      expect(response.statusCode).toBe(200);
      return response.json().data;
    });
    const refreshId = `token-health/status-refresh/${stack.taskQueue}/${stale.runId}`;
    expect(data.filter((d) => d.refresh_started)).toHaveLength(1);
    for (const d of data) {
      expect(d).toMatchObject({
        overall_health: 'healthy',
        stale: false,
        workflow_id: refreshId,
        refresh: { workflow_id: refreshId, state: 'completed' },
      });
      expect(d.run_id).toBe(data[0].run_id);
      expect(d.age_seconds).toBeLessThan(60);
    }
    const rows = await healthRows();
    expect(rows).toHaveLength(before + 1);
    expect(rows[0]).toMatchObject({ runId: data[0].run_id, autoHealAttempted: false });
    // One run's worth of requests, however many asked.
    expect(stack.sim.calls.total()).toBe(3 + 1);
    const described = await stack.client.workflow.getHandle(refreshId).describe();
    expect(described).toMatchObject({ type: 'checkTokenHealth', status: { name: 'COMPLETED' } });

    // A request that read the old record just before the new one was written (here: the new row
    // taken away again) joins the finished check: the refresh keyed on a record never runs twice.
    await stack.db.pool.query('DELETE FROM api_token_checks WHERE run_id = $1', [data[0].run_id]);
    stack.sim.calls.reset();
    const late = (await status()).json().data;
    expect(late).toMatchObject({
      run_id: data[0].run_id,
      stale: false,
      refresh_started: false,
      refresh: { workflow_id: refreshId, state: 'completed' },
    });
    expect(stack.sim.calls.total()).toBe(0);
  });

  it('accepts an older record when asked (never a younger one than the bound), and rejects bad input with a JSON 400', async () => {
    const [latest] = await healthRows();
    await age(2 * 3600_000);
    stack.sim.calls.reset();
    const tolerant = (await status('?max_age_seconds=86400')).json().data;
    expect(tolerant).toMatchObject({
      run_id: latest?.runId,
      stale: false,
      refresh_started: false,
      refresh: null,
      max_age_seconds: 86_400,
    });
    expect(tolerant.age_seconds).toBeGreaterThanOrEqual(7200);
    expect((await status('?max_age_seconds=0')).json().data).toMatchObject({
      max_age_seconds: 900,
      stale: false,
      refresh: { state: 'completed' },
    });
    for (const value of ['-1', 'abc', '2.5', '999999999']) {
      const bad = await status(`?max_age_seconds=${value}`);
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toEqual({
        success: false,
        error: { code: 'validation_error', message: expect.stringContaining('max_age_seconds') },
      });
    }
    expect((await app.inject({ method: 'GET', url: '/tokens/status' })).statusCode).toBe(401);
  });

  it("reads token-warden's own token once when it is also one of the inventory's", async () => {
    // The operator points the user-token entry at token-warden's own value: one token, two roles.
    const original = stack.secretEnv.USER_TOKEN;
    stack.secretEnv.USER_TOKEN = tokens.warden.value;
    try {
      await app.inject({ method: 'GET', url: '/tokens/health', headers: stack.auth }); // learns the new value's identity
      stack.sim.calls.reset();
      const response = await app.inject({ method: 'GET', url: '/tokens/health', headers: stack.auth });
      expect(response.json().data).toMatchObject({
        overall_health: 'healthy',
        user_token: { token_id: tokens.warden.id, is_valid: true, has_all_permissions: true },
        self_audit: { token_id: tokens.warden.id, is_valid: true, has_all_needed_permissions: true },
      });
      expect(stack.sim.calls.counts()).toEqual({
        'permission-groups-list-permission-groups': { '200': 1 },
        'account-api-tokens-token-details': { '200': 1 },
        'user-api-tokens-token-details': { '200': 1 },
      });
      expect(stack.sim.calls.total()).toBe(2 + 1);
    } finally {
      stack.secretEnv.USER_TOKEN = original;
    }
  });
});
