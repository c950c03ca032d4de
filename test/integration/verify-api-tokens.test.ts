import { randomBytes } from 'node:crypto';
import { upsertSchedules, type ScheduleDefinition } from '../../src/schedules';
import { startStack, type Stack } from '../support/stack';

/** Every string and byte array in a raw history message, as one latin1 string to search. */
function everyByte(value: unknown): string {
  if (value instanceof Uint8Array) return Buffer.from(value).toString('latin1');
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) return value.map(everyByte).join('\n');
  if (value && typeof value === 'object') return Object.values(value).map(everyByte).join('\n');
  return '';
}

/**
 * The ground proven end to end: an authenticated API call and a Temporal Schedule each start
 * a verifyApiTokens run on the real dev server; its activity verifies tokens through the
 * official SDK against the simulator and writes a row to a real PostgreSQL server.
 */
describe('verifyApiTokens on the real stack', () => {
  let stack: Stack;
  let tokens: {
    account: { id: string; value: string };
    user: { id: string; value: string };
    expired: { id: string; value: string };
  };
  let accountId: string;

  beforeAll(async () => {
    stack = await startStack({
      inventory: (sim) => {
        accountId = sim.state.createAccount({ name: 'e2e' }).id;
        tokens = {
          account: sim.state.createApiToken({
            owner: { accountId },
            name: 'acct',
            permissions: ['Workers Scripts Write'],
          }),
          user: sim.state.createApiToken({ owner: 'user', name: 'user', permissions: ['API Tokens Write'] }),
          expired: sim.state.createApiToken({
            owner: 'user',
            name: 'old',
            permissions: ['API Tokens Read'],
            expiresOn: new Date(Date.now() - 86_400_000),
          }),
        };
        return {
          accounts: [
            {
              id: accountId,
              apiTokens: [
                { name: 'account-token', kind: 'account', secretFrom: { env: 'ACCOUNT_TOKEN' } },
                { name: 'user-token', kind: 'user', secretFrom: { env: 'USER_TOKEN' } },
                { name: 'expired-token', kind: 'user', secretFrom: { env: 'EXPIRED_TOKEN' } },
                { name: 'unset-token', kind: 'user', secretFrom: { env: 'NOT_SET' } },
              ],
            },
          ],
        };
      },
      secretEnv: () => ({
        ACCOUNT_TOKEN: tokens.account.value,
        USER_TOKEN: tokens.user.value,
        EXPIRED_TOKEN: tokens.expired.value,
      }),
    });
    await stack.startWorkers();
  });
  afterAll(async () => stack?.close());

  it('verifies through the API, records the outcome and the actor, and keeps history encrypted', async () => {
    const app = await stack.app();
    const marker = `reason-${randomBytes(8).toString('hex')}`;
    const response = await app.inject({
      method: 'POST',
      url: '/api-tokens/verify',
      headers: stack.auth,
      payload: { reason: marker },
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.data.overall_health).toBe('unhealthy');
    const byName = Object.fromEntries(body.data.tokens.map((t: { name: string }) => [t.name, t]));
    expect(byName['account-token']).toMatchObject({ outcome: 'valid', status: 'active', token_id: tokens.account.id });
    expect(byName['user-token']).toMatchObject({ outcome: 'valid', token_id: tokens.user.id });
    expect(byName['expired-token'].outcome).toBe('invalid');
    expect(byName['unset-token']).toMatchObject({
      outcome: 'missing-secret',
      problem: 'no token value in environment variable NOT_SET',
    });
    expect(response.body).not.toContain(tokens.account.value);

    const [row] = await stack.history.listApiTokenChecks(1, 'verify');
    expect(row).toMatchObject({
      workflowId: body.data.workflow_id,
      runId: body.data.run_id,
      triggeredBy: 'api:test-client',
      overallHealth: 'unhealthy',
    });
    const audit = await stack.history.listAudit(10);
    expect(audit).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ actor: 'api:test-client', action: 'verify-api-tokens', runId: body.data.run_id }),
      ]),
    );

    // Read the run's raw history without the codec: no argument, result or token value in the clear.
    const raw = await stack.connection.workflowService.getWorkflowExecutionHistory({
      namespace: 'default',
      execution: { workflowId: body.data.workflow_id, runId: body.data.run_id },
    });
    const bytes = everyByte(raw.history);
    expect(raw.history?.events?.length).toBeGreaterThan(5);
    expect(bytes).toContain('verifyApiTokens'); // the search sees plaintext where there is some
    for (const plaintext of [marker, 'account-token', tokens.account.id, tokens.user.value, 'missing-secret'])
      expect(bytes).not.toContain(plaintext);
    const startPayload = raw.history?.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
    expect(Buffer.from(startPayload?.metadata?.encoding ?? []).toString()).toBe('binary/encrypted');
  });

  it('answers 401 without a valid bearer token and 400 for a malformed body, starting nothing', async () => {
    const app = await stack.app();
    const before = (await stack.history.listApiTokenChecks(100)).length;
    expect((await app.inject({ method: 'POST', url: '/api-tokens/verify' })).statusCode).toBe(401);
    const wrong = await app.inject({
      method: 'POST',
      url: '/api-tokens/verify',
      headers: { authorization: 'Bearer nope' },
    });
    expect(wrong.statusCode).toBe(401);
    expect(wrong.json()).toEqual({ success: false, error: { code: 'unauthorized', message: 'invalid credentials' } });
    const bad = await app.inject({
      method: 'POST',
      url: '/api-tokens/verify',
      headers: { ...stack.auth, 'content-type': 'application/json' },
      payload: '{"reason": 42}',
    });
    expect(bad.statusCode).toBe(400);
    expect(bad.json().error.code).toBe('validation_error');
    const notJson = await app.inject({
      method: 'POST',
      url: '/api-tokens/verify',
      headers: { ...stack.auth, 'content-type': 'application/json' },
      payload: '{"reason": ',
    });
    expect(notJson.statusCode).toBe(400);
    expect((await stack.history.listApiTokenChecks(100)).length).toBe(before);
  });

  it('runs from a Temporal Schedule, recording the schedule as the actor', async () => {
    const definition: ScheduleDefinition = {
      id: `test/verify-api-tokens/${randomBytes(4).toString('hex')}`,
      cron: '0 0 1 1 *',
      workflowType: 'verifyApiTokens',
      args: (trigger) => [{ trigger }],
      note: 'test schedule',
      tokenKind: 'api-token',
    };
    await upsertSchedules(stack.client, stack.taskQueue, undefined, [definition]);
    await upsertSchedules(stack.client, stack.taskQueue, undefined, [definition]); // idempotent
    const handle = stack.client.schedule.getHandle(definition.id);
    try {
      await handle.trigger();
      const deadline = Date.now() + 30_000;
      let rows = await stack.history.listApiTokenChecks(50, 'verify');
      while (!rows.some((r) => r.triggeredBy === `schedule:${definition.id}`) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 250));
        rows = await stack.history.listApiTokenChecks(50, 'verify');
      }
      expect(rows.find((r) => r.triggeredBy === `schedule:${definition.id}`)).toMatchObject({
        overallHealth: 'unhealthy',
      });
      const description = await handle.describe();
      expect(description.action).toMatchObject({
        type: 'startWorkflow',
        workflowType: 'verifyApiTokens',
        taskQueue: stack.taskQueue,
      });
    } finally {
      await handle.delete();
    }
  });
});
