import { startApiStack, type ApiStack } from './support';
import type { FastifyInstance } from 'fastify';

describe('input hygiene: every string the API takes is checked for what it is, with a 400 before anything runs', () => {
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

  const post = (url: string, payload?: unknown) =>
    app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload: payload as object }) });

  it('refuses a NUL byte in the rotations filter with a 400 naming it, and never queries Postgres', async () => {
    const list = jest.spyOn(api.stack.rotations, 'listRotationPage');
    const response = await app.inject({ method: 'GET', url: '/rotations?token=%00', headers });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      success: false,
      error: { code: 'validation_error', message: expect.stringContaining('querystring.token') },
    });
    expect(list).not.toHaveBeenCalled();
  });

  it('refuses a revoke whose reason has a NUL byte, is empty, too long or missing, and starts nothing', async () => {
    const signal = jest.spyOn(api.stack.client.workflow, 'signalWithStart');
    const audit = jest.spyOn(api.stack.history, 'recordAudit');
    for (const body of [
      { reason: 'leaked\u0000' },
      { reason: '' },
      { reason: 'x'.repeat(501) },
      {},
      { reason: 7 },
      { reason: 'line one\nline two' },
    ]) {
      const response = await post(`/service-tokens/${api.tokenName}/revoke`, body);
      expect({ body, status: response.statusCode, code: response.json().error?.code }).toEqual({
        body,
        status: 400,
        code: 'validation_error',
      });
    }
    expect(signal).not.toHaveBeenCalled();
    expect(audit).not.toHaveBeenCalled();
  });

  it('refuses control characters and bidi overrides in a rotate or verify reason, and starts nothing', async () => {
    const start = jest.spyOn(api.stack.client.workflow, 'start');
    for (const reason of ['\u0000', 'red \u001b[31m', 'tab\there', 'c1 \u0085', 'right-to-left \u202e override']) {
      expect((await post(`/service-tokens/${api.tokenName}/rotate`, { reason })).statusCode).toBe(400);
      expect((await post('/api-tokens/verify', { reason })).statusCode).toBe(400);
    }
    expect(start).not.toHaveBeenCalled();
  });

  it('drops a __proto__ key from a JSON body and takes the rest, polluting nothing', async () => {
    const response = await app.inject({
      method: 'POST',
      url: `/service-tokens/${api.tokenName}/rotate?dry_run=true`,
      headers: { ...headers, 'content-type': 'application/json' },
      payload:
        '{"__proto__": {"polluted": true}, "constructor": {"prototype": {"polluted": true}}, "reason": "scheduled"}',
    });
    expect(response.statusCode).toBe(200);
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
  });

  it('accepts a reason in any script, emoji included', async () => {
    const response = await post(`/service-tokens/${api.tokenName}/rotate?dry_run=true`, {
      reason: '🔑 rotación programada – 鍵の交換',
    });
    expect(response.statusCode).toBe(200);
    expect(response.json().data.token).toBe(api.tokenName);
  });

  it("refuses ids not of their shape: a run id that is no UUID, an account id that is not Cloudflare's, an overlong name (400, never the router's 414)", async () => {
    const byUrl = async (method: 'GET' | 'POST', url: string) => {
      const response = await app.inject({ method, url, headers });
      return {
        url,
        status: response.statusCode,
        code: response.json().error?.code,
        message: response.json().error?.message,
      };
    };
    expect(await byUrl('GET', '/workflows/x?run_id=abc')).toMatchObject({
      status: 400,
      code: 'validation_error',
      message: expect.stringContaining('querystring.run_id'),
    });
    expect(await byUrl('GET', '/rotations?account_id=not-an-account')).toMatchObject({
      status: 400,
      message: expect.stringContaining('querystring.account_id'),
    });
    expect(
      await byUrl(
        'POST',
        `/service-tokens/${api.tokenName}/rotate?dry_run=true&account_id=${api.accountId.toUpperCase()}`,
      ),
    ).toMatchObject({ status: 400 });
    expect(await byUrl('POST', `/service-tokens/${'n'.repeat(201)}/rotate?dry_run=true`)).toMatchObject({
      status: 400,
      message: expect.stringContaining('params.name'),
    });
    expect(await byUrl('POST', `/service-tokens/${'n'.repeat(1500)}/revoke`)).toMatchObject({ status: 400 });
    expect(await byUrl('GET', `/workflows/${'w'.repeat(501)}`)).toMatchObject({ status: 400 });
    expect(await byUrl('GET', '/workflows/a%01b')).toMatchObject({ status: 400 });
    for (const written of ['', '%205', '05', '5.0', '0x5', '1e1', '-0']) {
      expect(await byUrl('GET', `/rotations?limit=${written}`)).toMatchObject({
        status: 400,
        message: expect.stringContaining('querystring.limit'),
      });
      expect(await byUrl('GET', `/tokens/status?max_age_seconds=${written}`)).toMatchObject({ status: 400 });
    }
    expect(await byUrl('GET', '/rotations?limit=0')).toMatchObject({ status: 400 });
    expect(await byUrl('GET', '/rotations?limit=100')).toMatchObject({ status: 200 });
    // Well-formed ids that name nothing are a 404, not an error.
    expect(await byUrl('GET', '/workflows/rotate/nothing?run_id=0195a0a4-8d8e-7c3b-9f5e-1a2b3c4d5e6f')).toMatchObject({
      status: 404,
      code: 'not_found',
    });
    expect(await byUrl('POST', `/service-tokens/nobody/rotate?dry_run=true&account_id=${api.accountId}`)).toMatchObject(
      { status: 404 },
    );
  });

  it('answers 405 with an Allow header for a method the path does not serve, 404 for a path it does not know', async () => {
    const deleted = await app.inject({ method: 'DELETE', url: '/service-tokens', headers });
    expect(deleted.statusCode).toBe(405);
    expect(String(deleted.headers.allow).split(', ')).toEqual(expect.arrayContaining(['GET', 'HEAD']));
    expect(deleted.json().error.code).toBe('method_not_allowed');
    const put = await app.inject({
      method: 'PUT',
      url: `/service-tokens/${api.tokenName}/rotate`,
      headers,
      payload: {},
    });
    expect(put.statusCode).toBe(405);
    expect(String(put.headers.allow)).toContain('POST');
    expect((await app.inject({ method: 'GET', url: '/no/such/route', headers })).statusCode).toBe(404);
  });
});
