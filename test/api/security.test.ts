import type { FastifyInstance } from 'fastify';
import { DEFAULT_AUTH_FAILURE_LIMIT } from '../../src/api/app';
import { dashboardCsp } from '../../src/api/dashboard/page';
import { DOCS_CSP } from '../../src/api/plugins/security-headers';
import { AesGcmPayloadCodec } from '../../src/temporal/codec';
import { TEST_TOKEN } from '../support/stack';
import { startApiStack, type ApiStack } from './support';

describe('API security: headers on every answer, failed logins limited per address, Host checked where the codec is public', () => {
  let api: ApiStack;
  let app: FastifyInstance;
  let headers: { authorization: string };

  beforeAll(async () => {
    api = await startApiStack();
    app = await api.app();
    headers = api.stack.auth;
  });
  afterAll(async () => {
    await api?.close();
  });

  it("sends helmet's headers, nosniff and no-store on JSON answers, errors included, and a CSP that loads nothing", async () => {
    const answers = [
      await app.inject({ method: 'GET', url: '/service-tokens', headers }),
      await app.inject({ method: 'GET', url: '/service-tokens' }),
      await app.inject({ method: 'GET', url: '/rotations?limit=0', headers }),
      await app.inject({ method: 'GET', url: '/nowhere', headers }),
      await app.inject({ method: 'GET', url: '/health' }),
      await app.inject({ method: 'POST', url: '/codec/decode', headers, payload: { payloads: [] } }),
    ];
    expect(answers.map((a) => a.statusCode)).toEqual([200, 401, 400, 404, 200, 200]);
    for (const answer of answers) {
      expect(answer.headers['content-type']).toMatch(/^application\/json/);
      expect(answer.headers).toMatchObject({
        'x-content-type-options': 'nosniff',
        'cache-control': 'no-store',
        'content-security-policy': "default-src 'none';frame-ancestors 'none';base-uri 'none';form-action 'none'",
        'x-frame-options': 'SAMEORIGIN',
        'referrer-policy': 'no-referrer',
        'strict-transport-security': 'max-age=31536000',
        'cross-origin-opener-policy': 'same-origin',
      });
    }
  });

  it('gives /docs (Swagger UI) its own CSP and the dashboard keeps its strict one', async () => {
    const docs = await app.inject({ method: 'GET', url: '/docs' });
    expect(docs.statusCode).toBe(200);
    expect(docs.headers['content-type']).toMatch(/^text\/html/);
    expect(docs.headers['content-security-policy']).toBe(DOCS_CSP);
    expect(docs.headers['x-content-type-options']).toBe('nosniff');
    const dashboard = await app.inject({ method: 'GET', url: '/' });
    expect(dashboard.headers['content-security-policy']).toBe(
      dashboardCsp({ temporalUiUrl: null, namespace: 'default' }),
    );
    expect(dashboard.headers['x-frame-options']).toBe('SAMEORIGIN');
  });

  it('ends 1,000 wrong-token requests from one address in 429s, without comparing any token while it is blocked', async () => {
    const limited = await api.app();
    const from = (remoteAddress: string, token: string) =>
      limited.inject({
        method: 'GET',
        url: '/service-tokens',
        remoteAddress,
        headers: { authorization: `Bearer ${token}` },
      });
    const statuses: number[] = [];
    for (let i = 0; i < 1000; i++) statuses.push((await from('203.0.113.7', `guess-${i}`.padEnd(40, 'x'))).statusCode);
    const max = DEFAULT_AUTH_FAILURE_LIMIT.max;
    expect(statuses.slice(0, max).every((s) => s === 401)).toBe(true);
    expect(statuses.slice(max).every((s) => s === 429)).toBe(true);
    const last = await from('203.0.113.7', 'guess-last'.padEnd(40, 'x'));
    expect(last.statusCode).toBe(429);
    expect(last.json().error.code).toBe('rate_limited');
    expect(Number(last.headers['retry-after'])).toBeGreaterThan(0);
    // Blocked means blocked: the right token from that address gets the same 429, so no guess can be confirmed.
    expect((await from('203.0.113.7', TEST_TOKEN)).statusCode).toBe(429);
    // Other addresses are untouched, and public routes stay open.
    expect((await from('198.51.100.1', TEST_TOKEN)).statusCode).toBe(200);
    expect((await from('198.51.100.2', 'wrong'.padEnd(40, 'x'))).statusCode).toBe(401);
    expect((await limited.inject({ method: 'GET', url: '/health', remoteAddress: '203.0.113.7' })).statusCode).toBe(
      200,
    );
  });

  it('lets an address try again once its window is over', async () => {
    const limited = await api.app({ authFailureLimit: { max: 3, perSeconds: 1 } });
    const wrong = () => limited.inject({ method: 'GET', url: '/rotations', remoteAddress: '192.0.2.9' });
    expect([await wrong(), await wrong(), await wrong(), await wrong()].map((r) => r.statusCode)).toEqual([
      401, 401, 401, 429,
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(
      (await limited.inject({ method: 'GET', url: '/rotations', remoteAddress: '192.0.2.9', headers })).statusCode,
    ).toBe(200);
  });

  it('answers only to loopback names when the codec is public (simulation mode), so a DNS-rebinding page reads nothing', async () => {
    const simulation = await api.app({
      codec: { codec: new AesGcmPayloadCodec(api.stack.keys), uiOrigins: [], public: true },
    });
    const decode = (host: string) =>
      simulation.inject({ method: 'POST', url: '/codec/decode', headers: { host }, payload: { payloads: [] } });
    for (const host of ['evil.example', 'evil.example:3000', '127.0.0.1.nip.io:3000', 'localhost.evil.example']) {
      const refused = await decode(host);
      expect({ host, status: refused.statusCode, code: refused.json().error?.code }).toEqual({
        host,
        status: 403,
        code: 'host_not_allowed',
      });
    }
    expect(
      (await simulation.inject({ method: 'GET', url: '/health', headers: { host: 'evil.example' } })).statusCode,
    ).toBe(403);
    for (const host of ['127.0.0.1:3000', 'localhost:3000', 'LOCALHOST', '[::1]:3000', '127.0.0.2']) {
      expect({ host, status: (await decode(host)).statusCode }).toEqual({ host, status: 200 });
    }
    // Outside simulation the codec needs a client and no Host is assumed.
    expect(
      (await app.inject({ method: 'GET', url: '/health', headers: { host: 'token-warden.example' } })).statusCode,
    ).toBe(200);
  });
});
