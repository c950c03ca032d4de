import { randomBytes, randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import Fastify, { type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { errorHandlerPlugin } from '../../src/api/plugins/error-handler';
import { tokenRoutes } from '../../src/api/routes/tokens';
import type { StoredApiTokenCheck } from '../../src/db/history-repository';
import { statusToken } from './status-source';

/** A recorded health row as recordTokenHealth writes it, with only what the status reads. */
function healthRow(ageMs: number): StoredApiTokenCheck {
  const runId = randomUUID();
  const timestamp = new Date(Date.now() - ageMs).toISOString();
  return {
    runId,
    workflowId: `token-health/${runId}`,
    kind: 'health',
    triggeredBy: 'schedule:test',
    overallHealth: 'healthy',
    autoHealAttempted: false,
    autoHealSuccess: null,
    checkedAt: new Date(timestamp),
    results: {
      version: 1,
      timestamp,
      summary: {},
      report: {
        workflowId: `token-health/${runId}`,
        runId,
        timestamp,
        overallHealth: 'healthy',
        recommendations: ['ok'],
        tokens: [statusToken('a', 'account'), statusToken('u', 'user')],
      },
    },
  };
}

/**
 * The status route against the shared dev server with no worker on its task queue, so a check
 * it starts never finishes: what it answers then, and that concurrent requests share one check.
 */
describe('GET /tokens/status when its check does not finish within the request', () => {
  const taskQueue = `tw-status-${randomBytes(4).toString('hex')}`;
  let connection: Connection;
  let client: Client;
  let app: FastifyInstance;
  let rows: StoredApiTokenCheck[] = [];
  let readsFail = false;
  const started: string[] = [];

  beforeAll(async () => {
    const address = process.env.TEST_TEMPORAL_ADDRESS;
    if (!address) throw new Error('TEST_TEMPORAL_ADDRESS is not set: run through jest');
    connection = await Connection.connect({ address });
    client = new Client({ connection });
    const history = {
      listApiTokenChecks: async (limit: number) => {
        if (readsFail) throw new Error('connect ECONNREFUSED 127.0.0.1:5432');
        return rows.slice(0, limit);
      },
      listHealthHistory: async () => ({ rows: [], next: null }),
    };
    app = Fastify({ logger: false }).withTypeProvider<ZodTypeProvider>();
    app.setValidatorCompiler(validatorCompiler);
    app.setSerializerCompiler(serializerCompiler);
    await app.register(errorHandlerPlugin);
    await app.register(tokenRoutes, {
      temporal: client,
      taskQueue,
      history,
      statusMaxAgeMs: 60_000,
      statusRefreshWaitMs: 500,
      // Every request reads the rows as this test sets them (nothing is kept); the memo has its own test.
      statusMemoMs: 0,
    });
  });
  afterAll(async () => {
    for (const workflowId of started)
      await client.workflow
        .getHandle(workflowId)
        .terminate('test over')
        .catch(() => undefined);
    await app?.close();
    await connection?.close();
  });

  const status = () => app.inject({ method: 'GET', url: '/tokens/status' });

  it('answers 503 with Retry-After when nothing is recorded yet, and every request waits on the same one check', async () => {
    rows = [];
    const workflowId = `token-health/status-refresh/${taskQueue}/first`;
    started.push(workflowId);
    const [first, second] = await Promise.all([status(), status()]);
    for (const response of [first, second]) {
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBe('1');
      expect(response.json()).toEqual({
        success: false,
        error: { code: 'health_check_pending', message: expect.stringContaining(workflowId) },
      });
    }
    const handle = client.workflow.getHandle(workflowId);
    const description = await handle.describe();
    expect(description).toMatchObject({ type: 'checkTokenHealth', status: { name: 'RUNNING' } });
    expect((await status()).statusCode).toBe(503);
    expect((await handle.describe()).runId).toBe(description.runId);
  });

  it('answers from the older record, saying so, while the check it started runs', async () => {
    const old = healthRow(5 * 60_000);
    rows = [old];
    const workflowId = `token-health/status-refresh/${taskQueue}/${old.runId}`;
    started.push(workflowId);
    const first = await status();
    expect(first.statusCode).toBe(200);
    expect(first.json().data).toMatchObject({
      overall_health: 'healthy',
      recommendations: ['ok'],
      workflow_id: old.workflowId,
      run_id: old.runId,
      max_age_seconds: 60,
      stale: true,
      refresh_started: true,
      refresh: { workflow_id: workflowId, state: 'running' },
    });
    expect(first.json().data.age_seconds).toBeGreaterThanOrEqual(300);
    const second = await status();
    expect(second.json().data).toMatchObject({
      run_id: old.runId,
      stale: true,
      refresh_started: false,
      refresh: { workflow_id: workflowId, state: 'running' },
    });
  });

  it('answers a record within the bound without starting anything', async () => {
    const fresh = healthRow(1_000);
    rows = [fresh];
    const response = await status();
    expect(response.json().data).toMatchObject({
      run_id: fresh.runId,
      stale: false,
      refresh_started: false,
      refresh: null,
    });
    await expect(
      client.workflow.getHandle(`token-health/status-refresh/${taskQueue}/${fresh.runId}`).describe(),
    ).rejects.toThrow();
  });

  it('answers 503, not 500, when the recorded state cannot be read', async () => {
    readsFail = true;
    try {
      const response = await status();
      expect(response.statusCode).toBe(503);
      expect(response.json()).toEqual({
        success: false,
        error: { code: 'history_unavailable', message: expect.any(String) },
      });
    } finally {
      readsFail = false;
    }
  });
});
