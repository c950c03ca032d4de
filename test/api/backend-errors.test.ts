import { Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { createRotationRepository } from '../../src/db/rotation-repository';
import { createPool } from '../../src/db/pool';
import { createTemporalClient } from '../../src/temporal/connection';
import { freePort } from '../../src/temporal/dev-server';
import { startApiStack, type ApiStack } from './support';

describe('Temporal and Postgres errors map by cause: client input is a 4xx, an outage a 503, the rest a hidden 500', () => {
  let api: ApiStack;
  let app: FastifyInstance;
  let headers: { authorization: string };

  beforeAll(async () => {
    api = await startApiStack();
    app = await api.app();
    headers = api.stack.auth;
  });
  afterEach(() => jest.restoreAllMocks());
  afterAll(async () => {
    await api?.close();
  });

  it('answers 400 when Temporal refuses a run id as INVALID_ARGUMENT', async () => {
    // What Temporal itself answers for `GET /workflows/x?run_id=abc`, had the id passed the schema.
    const getHandle = api.stack.client.workflow.getHandle.bind(api.stack.client.workflow);
    jest
      .spyOn(api.stack.client.workflow, 'getHandle')
      .mockImplementation((workflowId: string) => getHandle(workflowId, 'abc'));
    const response = await app.inject({ method: 'GET', url: '/workflows/x', headers });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toEqual({
      code: 'invalid_argument',
      message: expect.stringMatching(/^Temporal refused the request: .*run/i),
    });
  });

  it('answers 400 for a Postgres data error (22021, a NUL byte in text)', async () => {
    const { pool } = api.stack.db;
    jest.spyOn(api.stack.rotations, 'listRotationPage').mockImplementation(async () => {
      await pool.query('SELECT $1::text', ['a\u0000b']);
      return { rows: [], next: null };
    });
    const response = await app.inject({ method: 'GET', url: '/rotations', headers });
    expect(response.statusCode).toBe(400);
    expect(response.json().error).toEqual({
      code: 'invalid_input',
      message: 'a value of the request is not valid data (Postgres 22021)',
    });
  });

  it('answers 503 with Retry-After while Postgres is unreachable, and /ready says which check fails', async () => {
    const deadPool = createPool(`postgres://postgres@127.0.0.1:${await freePort()}/none`);
    try {
      const down = await api.app({
        rotations: createRotationRepository(deadPool),
        readiness: { temporal: async () => undefined, postgres: async () => void (await deadPool.query('SELECT 1')) },
      });
      const response = await down.inject({ method: 'GET', url: '/rotations', headers });
      expect(response.statusCode).toBe(503);
      expect(response.headers['retry-after']).toBe('5');
      expect(response.json().error.code).toMatch(/unavailable/);
      const ready = await down.inject({ method: 'GET', url: '/ready' });
      expect(ready.statusCode).toBe(503);
      expect(ready.json()).toEqual({ ready: false, checks: { temporal: 'ok', postgres: 'failing' } });
    } finally {
      await deadPool.end();
    }
  });

  it('answers 503 while Temporal is unreachable', async () => {
    const connection = Connection.lazy({ address: `127.0.0.1:${await freePort()}`, connectTimeout: 500 });
    try {
      const down = await api.app({ temporal: createTemporalClient(connection, 'default', api.stack.keys) });
      const response = await down.inject({ method: 'GET', url: '/workflows/rotate/x/y', headers });
      expect(response.statusCode).toBe(503);
      expect(response.json().error.code).toBe('temporal_unavailable');
    } finally {
      await connection.close().catch(() => undefined);
    }
  });

  it('keeps anything else a 500 that tells the client nothing internal', async () => {
    jest
      .spyOn(api.stack.rotations, 'listRotationPage')
      .mockRejectedValue(new Error('relation "secret_table" does not exist'));
    const response = await app.inject({ method: 'GET', url: '/rotations', headers });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({
      success: false,
      error: { code: 'internal_error', message: 'internal error; see the server log' },
    });
    expect(response.body).not.toContain('secret_table');
  });

  it('answers 202 for a revoke that went through even when its audit row cannot be written', async () => {
    jest.spyOn(api.stack.history, 'recordAudit').mockRejectedValue(new Error('Connection terminated unexpectedly'));
    const signal = jest.spyOn(api.stack.client.workflow, 'signalWithStart');
    const response = await app.inject({
      method: 'POST',
      url: `/service-tokens/${api.tokenName}/revoke`,
      headers,
      payload: { reason: 'leaked in a CI log' },
    });
    expect(response.statusCode).toBe(202);
    expect(signal).toHaveBeenCalledTimes(1);
    expect(response.json().data.workflow_id).toBe(`rotate/${api.accountId}/${api.tokenName}`);
    // No worker polls this stack's queue: end the emergency run so nothing is left behind.
    await api.stack.client.workflow.getHandle(response.json().data.workflow_id).terminate('test over');
  });
});
