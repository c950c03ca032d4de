import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { permissionGroupByName } from '@token-warden/cloudflare-simulator';
import { SCHEDULES, upsertSchedules, type ScheduleDefinition } from '../../src/schedules';
import { startLoopbackServer, type FakeRequest, type LoopbackServer } from '../fakes/loopback-server';
import { startStack, type Stack } from '../support/stack';

const DAY_MS = 86_400_000;
const WS = 'com.cloudflare.api.account.workers.script:edit';
const D1 = 'com.cloudflare.api.account.d1:edit';
const HEALTHY = '✅ All tokens are healthy and have required permissions.';

const groupId = (name: string): string => {
  const group = permissionGroupByName(name);
  if (!group) throw new Error(`no group ${name}`);
  return group.id;
};

type Created = { id: string; value: string };

/**
 * checkTokenHealth through the real stack: the API starts a run on the real dev server, the
 * worker's activities call the simulator through the official SDK and write to Postgres.
 * The tests run in order against one simulated account, each changing the tokens a little.
 */
describe('token health: check → heal → verify on the real stack', () => {
  let stack: Stack;
  let app: FastifyInstance;
  let receiver: LoopbackServer;
  const received: FakeRequest[] = [];
  /** Answers to give webhook requests before the default 200 (to prove Temporal retries them). */
  const hookFailures: number[] = [];
  let accountId = '';
  let tokens: { warden: Created; account: Created; user: Created };
  const values = () => [tokens.warden.value, tokens.account.value, tokens.user.value];

  const record = (id: string) => {
    const token = stack.sim.state.apiTokens.get(id);
    if (!token) throw new Error(`no token ${id}`);
    return token;
  };
  /** Rewrites a token in the simulator's state (as an operator in the dashboard would). */
  const rewrite = (id: string, change: Partial<Parameters<Stack['sim']['state']['apiTokens']['update']>[2]>) => {
    const token = record(id);
    stack.sim.state.apiTokens.update(token.owner, id, {
      name: token.name,
      policies: token.policies.map((p) => ({
        effect: p.effect,
        permission_groups: p.permission_groups,
        resources: p.resources,
      })),
      expires_on: token.expires_on,
      not_before: token.not_before,
      requestIp: token.requestIp,
      ...change,
    });
  };
  /** What heal promises to keep: everything but policy ids and timestamps. */
  const shape = (id: string) => {
    const token = record(id);
    return {
      name: token.name,
      status: token.status,
      expires_on: token.expires_on,
      not_before: token.not_before,
      requestIp: token.requestIp,
      policies: token.policies.map((p) => ({
        effect: p.effect,
        permission_groups: p.permission_groups,
        resources: p.resources,
      })),
    };
  };
  const call = async (method: 'GET' | 'POST', url: string) => {
    const response = await app.inject({ method, url, headers: stack.auth });
    for (const value of values()) expect(response.body).not.toContain(value);
    return response;
  };
  const count = (operationId: string) => stack.sim.calls.count(operationId);

  /** Creates the account and its tokens once, whichever of the stack's callbacks asks first. */
  const createTokens = (sim: Stack['sim']) => {
    if (accountId) return tokens;
    accountId = sim.state.createAccount({ name: 'health' }).id;
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
        permissions: ['Workers Scripts Write', 'D1 Write', 'Workers Tail Read', 'Account API Tokens Read'],
      }),
      user: sim.state.createApiToken({
        owner: 'user',
        name: 'CLOUDFLARE_USER_TOKEN',
        permissions: ['API Tokens Write'],
      }),
    };
    return tokens;
  };

  beforeAll(async () => {
    receiver = await startLoopbackServer((request) => {
      received.push(request);
      const failure = request.path === '/hook' ? hookFailures.shift() : undefined;
      return { status: failure ?? 200, body: { ok: failure === undefined } };
    });
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
                  requiredPermissions: [
                    'Workers Scripts: Edit',
                    'D1: Edit',
                    'Workers Tail: Read',
                    'Account API Tokens: Read',
                  ],
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
          notify: {
            webhookUrl: `${receiver.url}/hook`,
            slackWebhookUrl: `${receiver.url}/slack/T000/B000/${randomBytes(8).toString('hex')}`,
          },
        };
      },
    });
    await stack.startWorkers();
    app = await stack.app();
  });
  afterAll(async () => {
    await stack?.close();
    await receiver?.close();
  });

  it('reports a healthy pair in the seed shape, as a Temporal run with its history and audit rows', async () => {
    stack.sim.calls.reset();
    const response = await call('GET', '/tokens/health');
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(Object.keys(body)).toEqual(['success', 'data']);
    expect(body.success).toBe(true);
    expect(body.data).toMatchObject({
      account_token: {
        token_type: 'account',
        token_id: tokens.account.id,
        is_valid: true,
        is_active: true,
        expires_on: null,
        missing_permissions: [],
        has_all_permissions: true,
        verification_url: `${stack.sim.baseURL}/accounts/${accountId}/tokens/verify`,
      },
      user_token: {
        token_type: 'user',
        token_id: tokens.user.id,
        is_valid: true,
        is_active: true,
        expires_on: null,
        missing_permissions: [],
        has_all_permissions: true,
        verification_url: `${stack.sim.baseURL}/user/tokens/verify`,
      },
      overall_health: 'healthy',
      recommendations: [HEALTHY],
      auto_heal_attempted: false,
      self_audit: {
        token_type: 'user',
        token_id: tokens.warden.id,
        is_valid: true,
        has_all_needed_permissions: true,
        missing_permissions: [],
      },
    });
    expect(Object.keys(body.data).slice(0, 6)).toEqual([
      'timestamp',
      'account_token',
      'user_token',
      'overall_health',
      'recommendations',
      'auto_heal_attempted',
    ]);
    expect(body.data).not.toHaveProperty('auto_heal_results');

    // First run: nothing cached yet, so each token is verified (for its id) and read by token-warden.
    expect(count('permission-groups-list-permission-groups')).toBe(1);
    expect(count('account-api-tokens-verify-token')).toBe(1);
    expect(count('user-api-tokens-verify-token')).toBe(2); // the user token and token-warden's own
    expect(count('account-api-tokens-token-details')).toBe(1);
    expect(count('user-api-tokens-token-details')).toBe(2);

    const [row] = await stack.history.listApiTokenChecks(1, 'health');
    expect(row).toMatchObject({
      workflowId: body.data.workflow_id,
      runId: body.data.run_id,
      triggeredBy: 'api:test-client',
      overallHealth: 'healthy',
      autoHealAttempted: false,
      autoHealSuccess: null,
    });
    const audit = await stack.history.listAudit(20);
    expect(audit).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ actor: 'api:test-client', action: 'check-token-health', runId: body.data.run_id }),
      ]),
    );
    const described = await stack.client.workflow.getHandle(body.data.workflow_id).describe();
    expect(described).toMatchObject({ type: 'checkTokenHealth', status: { name: 'COMPLETED' } });
  });

  it('spends one listing and one GET per token once the ids are cached; the status answers from that record at no cost', async () => {
    stack.sim.calls.reset();
    const health = await call('GET', '/tokens/health');
    expect(health.statusCode).toBe(200);
    expect(stack.sim.calls.counts()).toEqual({
      'permission-groups-list-permission-groups': { '200': 1 },
      'account-api-tokens-token-details': { '200': 1 },
      // the user token reads itself, and so does token-warden's own token (self-audit)
      'user-api-tokens-token-details': { '200': 2 },
    });

    stack.sim.calls.reset();
    const response = await call('GET', '/tokens/status');
    expect(response.statusCode).toBe(200);
    const { workflow_id: workflowId, run_id: runId, timestamp } = health.json().data;
    expect(response.json()).toEqual({
      success: true,
      data: {
        overall_health: 'healthy',
        account_token: { is_valid: true, is_active: true, has_all_permissions: true, missing_permissions_count: 0 },
        user_token: { is_valid: true, is_active: true, has_all_permissions: true, missing_permissions_count: 0 },
        recommendations: [HEALTHY],
        checked_at: timestamp,
        age_seconds: expect.any(Number),
        max_age_seconds: 900,
        stale: false,
        workflow_id: workflowId,
        run_id: runId,
        refresh_started: false,
        refresh: null,
      },
    });
    expect(stack.sim.calls.total()).toBe(0);
  });

  it('dry run reports the two missing permissions, changes nothing, and notifies', async () => {
    // An operator narrowed the account token: two required groups gone, plus a deny policy, a
    // zone-scoped grant, an expiry and an IP condition that heal must all keep as they are.
    rewrite(tokens.account.id, {
      policies: [
        {
          effect: 'allow',
          permission_groups: [{ id: groupId('Workers Tail Read') }, { id: groupId('Account API Tokens Read') }],
          resources: { [`com.cloudflare.api.account.${accountId}`]: '*' },
        },
        {
          effect: 'deny',
          permission_groups: [{ id: groupId('Workers KV Storage Write') }],
          resources: { [`com.cloudflare.api.account.${accountId}`]: '*' },
        },
        {
          effect: 'allow',
          permission_groups: [{ id: groupId('Zone Read') }],
          resources: {
            [`com.cloudflare.api.account.${accountId}`]: { [`com.cloudflare.api.account.zone.${'e'.repeat(32)}`]: '*' },
          },
        },
      ],
      expires_on: new Date(Date.now() + 90 * DAY_MS).toISOString(),
      requestIp: { in: ['127.0.0.0/8', '::1/128'] },
    });
    const before = shape(tokens.account.id);
    received.length = 0;
    stack.sim.calls.reset();

    const response = await call('POST', '/tokens/heal?dry_run=true');
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.message).toBe('Dry run: would add 2 missing permissions; nothing was changed');
    expect(body.data).toMatchObject({
      overall_health: 'degraded',
      auto_heal_attempted: false,
      dry_run: true,
      account_token: { missing_permissions: ['Workers Scripts: Edit', 'D1: Edit'], has_all_permissions: false },
      dry_run_results: {
        account_token: { success: true, would_add: [WS, D1], permissions_added: [] },
        user_token: { success: true, would_add: [] },
      },
    });
    expect(body.data.token_details[0]).toMatchObject({ over_privileged: true, extra_permissions: ['Zone Read'] });
    expect(body.data.recommendations).toContain(
      `🔍 Dry run: Account token would gain 2 permissions: ${WS}, ${D1}. Nothing was changed.`,
    );
    expect(count('account-api-tokens-update-token')).toBe(0);
    expect(shape(tokens.account.id)).toEqual(before);

    // degraded → one webhook and one Slack message, each with no token value in it
    const deadline = Date.now() + 20_000;
    while (received.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    const hook = received.find((r) => r.path === '/hook');
    const slack = received.find((r) => r.path.startsWith('/slack/'));
    expect(hook?.body).toMatchObject({
      event: 'token_health',
      reasons: ['degraded'],
      overall_health: 'degraded',
      workflow_id: body.data.workflow_id,
    });
    expect(slack?.body).toEqual({ text: expect.stringContaining('Cloudflare API tokens are *degraded*') });
    for (const value of values()) expect(JSON.stringify(received.map((r) => r.body))).not.toContain(value);
  });

  it('heals a token missing two permissions: exactly those two added, nothing else changed', async () => {
    const before = shape(tokens.account.id);
    stack.sim.calls.reset();
    const response = await call('POST', '/tokens/heal');
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.message).toBe('Successfully healed all tokens');
    expect(body.data).toMatchObject({
      overall_health: 'healthy',
      auto_heal_attempted: true,
      account_token: { missing_permissions: [], has_all_permissions: true, is_valid: true },
      auto_heal_results: {
        account_token: {
          success: true,
          token_type: 'account',
          token_id: tokens.account.id,
          permissions_added: [WS, D1],
          permissions_already_present: [],
          message: 'Successfully added 2 missing permissions',
        },
        user_token: {
          success: true,
          token_type: 'user',
          token_id: tokens.user.id,
          permissions_added: [],
          permissions_already_present: [],
          message: 'Successfully added 0 missing permissions',
        },
      },
    });
    expect(body.data.recommendations[0]).toBe('✅ Account token permissions updated successfully');
    expect(body.data.recommendations).toEqual(
      expect.arrayContaining([expect.stringMatching(/^📅 Account token is predicted to expire on /)]),
    );

    const after = shape(tokens.account.id);
    expect(after).toEqual({
      ...before,
      policies: [
        ...before.policies,
        {
          effect: 'allow',
          permission_groups: [{ id: groupId('Workers Scripts Write') }, { id: groupId('D1 Write') }],
          resources: { [`com.cloudflare.api.account.${accountId}`]: '*' },
        },
      ],
    });

    // Budget: the listing, one GET per token (cached), and for the healed token one update and
    // one read-back (token-warden's token edits it: the token may not edit itself).
    expect(stack.sim.calls.counts()).toEqual({
      'permission-groups-list-permission-groups': { '200': 1 },
      'account-api-tokens-token-details': { '200': 2 },
      'account-api-tokens-update-token': { '200': 1 },
      'user-api-tokens-token-details': { '200': 2 },
    });
    const [row] = await stack.history.listApiTokenChecks(1, 'health');
    expect(row).toMatchObject({
      runId: body.data.run_id,
      overallHealth: 'healthy',
      autoHealAttempted: true,
      autoHealSuccess: true,
    });
  });

  it('survives a lost answer to the update: the retry reads back, finds the groups and adds nothing twice', async () => {
    const healed = record(tokens.account.id).policies;
    rewrite(tokens.account.id, {
      policies: healed
        .slice(0, -1)
        .map((p) => ({ effect: p.effect, permission_groups: p.permission_groups, resources: p.resources })),
    });
    const before = shape(tokens.account.id);
    stack.sim.faults.set({ match: { operationId: 'account-api-tokens-update-token' }, applyThenDrop: true, times: 1 });
    stack.sim.calls.reset();
    try {
      const body = (await call('POST', '/tokens/heal')).json();
      expect(body.data).toMatchObject({
        overall_health: 'healthy',
        auto_heal_results: {
          account_token: { success: true, permissions_added: [], permissions_already_present: [WS, D1] },
        },
      });
      expect(body.data.recommendations[0]).toBe('✅ Account token permissions updated successfully');
    } finally {
      stack.sim.faults.clear();
    }
    expect(shape(tokens.account.id).policies).toEqual([
      ...before.policies,
      {
        effect: 'allow',
        permission_groups: [{ id: groupId('Workers Scripts Write') }, { id: groupId('D1 Write') }],
        resources: { [`com.cloudflare.api.account.${accountId}`]: '*' },
      },
    ]);
    expect(stack.sim.calls.counts()['account-api-tokens-update-token']).toEqual({ dropped: 1 });
  });

  it('fails cleanly with a recommendation when no one holds API Tokens Write', async () => {
    // The user token keeps only read access to itself, and token-warden's own token loses its
    // user-level write: nobody may add the missing permission.
    rewrite(tokens.user.id, {
      policies: [
        {
          effect: 'allow',
          permission_groups: [{ id: groupId('API Tokens Read') }],
          resources: record(tokens.user.id).policies[0]?.resources ?? {},
        },
      ],
    });
    const wardenPolicies = record(tokens.warden.id).policies;
    rewrite(tokens.warden.id, {
      policies: wardenPolicies.map((p) => ({
        effect: p.effect,
        permission_groups: p.permission_groups.map((g) =>
          g.id === groupId('API Tokens Write') ? { id: groupId('API Tokens Read') } : g,
        ),
        resources: p.resources,
      })),
    });
    const before = shape(tokens.user.id);
    stack.sim.calls.reset();
    received.length = 0;
    hookFailures.push(503);
    const response = await call('POST', '/tokens/heal');
    const body = response.json();
    expect(response.statusCode).toBe(200);
    expect(body.message).toBe('Could not heal 1 of 2 tokens: User token');
    expect(body.data).toMatchObject({
      overall_health: 'degraded',
      user_token: { is_valid: true, missing_permissions: ['API Tokens: Edit'], has_all_permissions: false },
      auto_heal_results: { user_token: { success: false, permissions_added: [] }, account_token: { success: true } },
      self_audit: { has_all_needed_permissions: false, missing_permissions: ['API Tokens Write (heal)'] },
    });
    expect(body.data.auto_heal_results.user_token.message).toMatch(
      /^Neither the token nor token-warden's own token holds API Tokens Write/,
    );
    expect(body.data.recommendations).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^❌ User token heal failed: Neither the token nor token-warden's own token holds API Tokens Write, so no one may edit it\. Grant API Tokens Write \(API Tokens: Edit in the dashboard\)/,
        ),
      ]),
    );
    expect(count('user-api-tokens-update-token')).toBe(0);
    expect(shape(tokens.user.id)).toEqual(before);
    const [row] = await stack.history.listApiTokenChecks(1, 'health');
    expect(row).toMatchObject({ autoHealAttempted: true, autoHealSuccess: false });

    // The webhook answered 503 first: Temporal retried the notification until it got through.
    const deadline = Date.now() + 20_000;
    const hooks = () => received.filter((r) => r.path === '/hook');
    while (hooks().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(hooks()).toHaveLength(2);
    expect(hooks()[1]?.body).toMatchObject({
      reasons: ['degraded', 'heal-failed', 'self-audit'],
      workflow_id: body.data.workflow_id,
    });
  });

  it('reports an expired token unhealthy and leaves it alone', async () => {
    const yesterday = new Date(Date.now() - DAY_MS).toISOString();
    rewrite(tokens.account.id, { expires_on: yesterday });
    const before = shape(tokens.account.id);
    stack.sim.calls.reset();
    const response = await call('POST', '/tokens/heal');
    const body = response.json();
    expect(body.data).toMatchObject({
      overall_health: 'unhealthy',
      account_token: { token_id: tokens.account.id, is_valid: false, is_active: false, expires_on: yesterday },
      auto_heal_results: { account_token: { success: false, permissions_added: [] } },
    });
    expect(body.data.auto_heal_results.account_token.message).toMatch(
      /^Cannot heal: the token is invalid or inactive .*auto-heal cannot fix invalid, revoked or expired tokens$/,
    );
    expect(body.data.recommendations[0]).toBe(
      `❌ Account token is invalid or inactive (Cloudflare rejects it: status expired). Create a new token in the Cloudflare dashboard and update its secret: auto-heal cannot fix invalid, revoked or expired tokens.`,
    );
    expect(count('account-api-tokens-update-token')).toBe(0);
    expect(shape(tokens.account.id)).toEqual(before);
  });

  it('lists history newest first in the seed shape, and rejects a bad limit with a JSON 400', async () => {
    const response = await call('GET', '/tokens/history?limit=20');
    expect(response.statusCode).toBe(200);
    const { data } = response.json();
    expect(data.count).toBe(data.history.length);
    expect(data.history.length).toBe(7);
    expect(Object.keys(data.history[0]).slice(0, 10)).toEqual([
      'timestamp',
      'overall_health',
      'account_token_valid',
      'account_token_has_all_perms',
      'account_token_missing_perms',
      'user_token_valid',
      'user_token_has_all_perms',
      'user_token_missing_perms',
      'auto_heal_attempted',
      'auto_heal_success',
    ]);
    expect(data.history[0]).toMatchObject({
      overall_health: 'unhealthy',
      account_token_valid: false,
      user_token_valid: true,
      user_token_has_all_perms: false,
      user_token_missing_perms: 1,
      auto_heal_attempted: true,
      auto_heal_success: false,
    });
    expect(data.history[6]).toMatchObject({
      overall_health: 'healthy',
      account_token_valid: true,
      account_token_missing_perms: 0,
      auto_heal_attempted: false,
      auto_heal_success: null,
    });
    expect((await call('GET', '/tokens/history')).json().data.count).toBe(7);
    expect((await call('GET', '/tokens/history?limit=2')).json().data.count).toBe(2);
    for (const limit of ['0', '101', 'abc', '2.5']) {
      const bad = await call('GET', `/tokens/history?limit=${limit}`);
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toEqual({
        success: false,
        error: { code: 'validation_error', message: expect.stringContaining('limit') },
      });
    }
    expect((await app.inject({ method: 'GET', url: '/tokens/status' })).statusCode).toBe(401);
    const docs = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(docs.statusCode).toBe(200);
    expect(Object.keys(docs.json().paths)).toEqual(
      expect.arrayContaining(['/tokens/health', '/tokens/heal', '/tokens/status', '/tokens/history']),
    );
  });

  it('runs from its Temporal Schedule (a trigger writes a history row with the schedule as actor)', async () => {
    const sixHourly = SCHEDULES.find((s) => s.id === 'token-warden/check-token-health');
    if (!sixHourly) throw new Error('no 6-hourly schedule');
    expect(sixHourly.cron).toBe('0 */6 * * *');
    const definition: ScheduleDefinition = {
      ...sixHourly,
      id: `test/check-token-health/${randomBytes(4).toString('hex')}`,
      cron: '0 0 1 1 *',
    };
    await upsertSchedules(stack.client, stack.taskQueue, undefined, [definition]);
    await upsertSchedules(stack.client, stack.taskQueue, undefined, [definition]); // idempotent
    const handle = stack.client.schedule.getHandle(definition.id);
    try {
      await handle.trigger();
      const actor = `schedule:${definition.id}`;
      const deadline = Date.now() + 30_000;
      let rows = await stack.history.listApiTokenChecks(50, 'health');
      while (!rows.some((r) => r.triggeredBy === actor) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        rows = await stack.history.listApiTokenChecks(50, 'health');
      }
      expect(rows.find((r) => r.triggeredBy === actor)).toMatchObject({
        autoHealAttempted: true,
        overallHealth: 'unhealthy',
      });
      const description = await handle.describe();
      expect(description.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: 3_600_000 });
      expect(description.action).toMatchObject({
        type: 'startWorkflow',
        workflowType: 'checkTokenHealth',
        taskQueue: stack.taskQueue,
      });
    } finally {
      await handle.delete();
    }
  });
});
