import Cloudflare, { APIConnectionError, InternalServerError, RateLimitError } from 'cloudflare';
import type { ApiRequestEvent, RunningSimulator } from '../src';
import { admin, client, errorCode, raw, required, startDemo, type DemoFixture } from './support';

let f: DemoFixture;

afterEach(async () => {
  await f.sim.close();
});

/** Statuses of `n` sequential verify calls (cheap requests that every valid token may make). */
async function verifyStatuses(sim: RunningSimulator, token: string, n: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i += 1) statuses.push((await raw(sim, 'GET', '/user/tokens/verify', { token })).status);
  return statuses;
}

describe('faults', () => {
  it('applies a create and then drops the connection: the SDK sees a connection error, the token exists', async () => {
    f = await startDemo();
    f.sim.faults.add({
      match: { method: 'POST', path: '/accounts/:account_id/access/service_tokens' },
      applyThenDrop: true,
      times: 1,
    });
    await expect(
      f.warden.zeroTrust.access.serviceTokens.create({ account_id: f.demo.accountId, name: 'lost response' }),
    ).rejects.toBeInstanceOf(APIConnectionError);
    const listed = await f.warden.zeroTrust.access.serviceTokens.list({
      account_id: f.demo.accountId,
      name: 'lost response',
    });
    expect(listed.result).toHaveLength(1);
    expect(f.sim.calls.count('access-service-tokens-create-a-service-token', 'dropped')).toBe(1);
  });

  it('answers an injected 5xx before the handler runs, so nothing is applied', async () => {
    f = await startDemo();
    f.sim.faults.set({ match: { operationId: 'access-service-tokens-create-a-service-token' }, status: 503, times: 1 });
    await expect(
      f.warden.zeroTrust.access.serviceTokens.create({ account_id: f.demo.accountId, name: 'never made' }),
    ).rejects.toBeInstanceOf(InternalServerError);
    const listed = await f.warden.zeroTrust.access.serviceTokens.list({
      account_id: f.demo.accountId,
      name: 'never made',
    });
    expect(listed.result).toHaveLength(0);
    await expect(
      f.warden.zeroTrust.access.serviceTokens.create({ account_id: f.demo.accountId, name: 'made' }),
    ).resolves.toBeDefined();
  });

  it('answers an injected 429 with Retry-After', async () => {
    f = await startDemo();
    f.sim.faults.add({ match: { path: '/user/tokens/**' }, status: 429, retryAfter: 7 });
    const response = await raw(f.sim, 'GET', '/user/tokens/verify', { token: required(f.demo.apiTokens.warden.value) });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('7');
    expect(errorCode(response.body)).toBeGreaterThanOrEqual(1000);
  });

  it('adds latency to matching requests', async () => {
    f = await startDemo();
    f.sim.faults.add({ match: { operationId: 'user-api-tokens-verify-token' }, latencyMs: 150 });
    const started = Date.now();
    await f.warden.user.tokens.verify();
    expect(Date.now() - started).toBeGreaterThanOrEqual(145);
  });

  it('repeats the same fault sequence for the same seed', async () => {
    const run = async (seed: number): Promise<number[]> => {
      const fixture = await startDemo({ faultSeed: seed });
      try {
        fixture.sim.faults.add({ match: { operationId: 'user-api-tokens-verify-token' }, errorRate: 0.5, status: 500 });
        return await verifyStatuses(fixture.sim, required(fixture.demo.apiTokens.warden.value), 24);
      } finally {
        await fixture.sim.close();
      }
    };
    const first = await run(42);
    expect(await run(42)).toEqual(first);
    expect(first).toContain(500);
    expect(first).toContain(200);
    expect(await run(7)).not.toEqual(first);
    f = await startDemo();
  });

  it('counts calls per operation and outcome, and resets the counts', async () => {
    f = await startDemo();
    await f.warden.user.tokens.verify();
    await expect(client(f.sim, 'y'.repeat(40)).user.tokens.verify()).rejects.toMatchObject({ status: 401 });
    await raw(f.sim, 'GET', '/no/such/route');
    expect(f.sim.calls.counts()).toMatchObject({
      'user-api-tokens-verify-token': { '200': 1, '401': 1 },
      unknown: { '404': 1 },
    });
    f.sim.calls.reset();
    expect(f.sim.calls.total()).toBe(0);
  });

  it('tells request listeners of every rate-limited API request as it arrives, 429s included, until unsubscribed', async () => {
    f = await startDemo({ rateLimit: { limit: 2 } });
    const seen: ApiRequestEvent[] = [];
    const stop = f.sim.calls.onRequest((event) => seen.push(event));
    const before = f.sim.clock.now();
    await f.warden.user.tokens.verify();
    await expect(client(f.sim, 'y'.repeat(40)).user.tokens.verify()).rejects.toMatchObject({ status: 401 });
    await expect(f.warden.user.tokens.verify()).resolves.toBeDefined();
    await expect(f.warden.user.tokens.verify()).rejects.toBeInstanceOf(RateLimitError);
    await raw(f.sim, 'GET', '/no/such/route');
    expect(seen.map((e) => [e.operationId, e.rateLimited])).toEqual([
      ['user-api-tokens-verify-token', false],
      ['user-api-tokens-verify-token', false],
      ['user-api-tokens-verify-token', false],
      ['user-api-tokens-verify-token', true],
    ]);
    expect(seen.every((e) => e.at >= before && e.at <= f.sim.clock.now())).toBe(true);
    stop();
    await f.warden.user.tokens.verify().catch(() => undefined);
    expect(seen).toHaveLength(4);
  });
});

describe('rate limit', () => {
  it('allows 1,200 requests per user per 5 minutes, answers 429 with Retry-After past it, and recovers', async () => {
    f = await startDemo();
    const token = required(f.demo.apiTokens.warden.value);
    const batches = await Promise.all(Array.from({ length: 8 }, () => verifyStatuses(f.sim, token, 150)));
    expect(batches.flat().filter((s) => s === 200)).toHaveLength(1200);
    const limited = await raw(f.sim, 'GET', '/user/tokens/verify', { token });
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(300);

    // The user's other token shares the count; an account-owned token has its own.
    await expect(client(f.sim, required(f.demo.apiTokens.user.value)).user.tokens.verify()).rejects.toBeInstanceOf(
      RateLimitError,
    );
    const accountToken = client(f.sim, required(f.demo.apiTokens.account.value));
    await expect(accountToken.accounts.tokens.verify({ account_id: f.demo.accountId })).resolves.toBeDefined();
    await expect(f.warden.user.tokens.verify()).rejects.toBeInstanceOf(RateLimitError);

    f.sim.clock.advance(300_000);
    await expect(f.warden.user.tokens.verify()).resolves.toMatchObject({ status: 'active' });
  });

  it('runs the window faster with timeScale', async () => {
    f = await startDemo({ timeScale: 300, rateLimit: { limit: 10 } });
    const token = required(f.demo.apiTokens.warden.value);
    const statuses = await verifyStatuses(f.sim, token, 12);
    expect(statuses.slice(0, 10).every((s) => s === 200)).toBe(true);
    expect(statuses.slice(10)).toEqual([429, 429]);
    await new Promise((resolve) => setTimeout(resolve, 1_050));
    expect(await verifyStatuses(f.sim, token, 1)).toEqual([200]);
  });

  it('lets an SDK client with retries wait out the Retry-After', async () => {
    f = await startDemo({ timeScale: 300, rateLimit: { limit: 2 } });
    const token = required(f.demo.apiTokens.warden.value);
    await verifyStatuses(f.sim, token, 2);
    const patient = new Cloudflare({
      apiToken: token,
      apiKey: null,
      apiEmail: null,
      userServiceKey: null,
      baseURL: f.sim.baseURL,
      maxRetries: 2,
    });
    await expect(patient.user.tokens.verify()).resolves.toMatchObject({ status: 'active' });
    expect(f.sim.calls.count('user-api-tokens-verify-token', 429)).toBeGreaterThanOrEqual(1);
  });
});

describe('admin routes', () => {
  it('refuses requests without the admin key', async () => {
    f = await startDemo({ adminKey: 'test-admin-key' });
    expect((await admin(f.sim, 'GET', '/faults', undefined, null)).status).toBe(401);
    expect((await admin(f.sim, 'GET', '/faults', undefined, 'wrong')).status).toBe(401);
    expect((await admin(f.sim, 'GET', '/health', undefined, null)).status).toBe(200);
  });

  it('sets and clears faults, reads and resets calls, tunes the rate limit and moves the clock', async () => {
    f = await startDemo();
    const added = await admin(f.sim, 'POST', '/faults', {
      match: { operationId: 'user-api-tokens-verify-token' },
      status: 502,
      times: 1,
    });
    expect(added.status).toBe(200);
    await expect(f.warden.user.tokens.verify()).rejects.toMatchObject({ status: 502 });
    await expect(f.warden.user.tokens.verify()).resolves.toBeDefined();
    expect((await admin(f.sim, 'GET', '/faults')).body.result).toMatchObject([{ status: 502, fired: 1 }]);
    expect((await admin(f.sim, 'DELETE', '/faults')).status).toBe(200);
    expect(f.sim.faults.list()).toEqual([]);

    expect((await admin(f.sim, 'GET', '/calls')).body.result).toMatchObject({
      'user-api-tokens-verify-token': { '200': 1, '502': 1 },
    });
    await admin(f.sim, 'DELETE', '/calls');
    expect(f.sim.calls.total()).toBe(0);

    expect((await admin(f.sim, 'PUT', '/rate-limit', { limit: 1 })).body.result).toMatchObject({
      limit: 1,
      windowSeconds: 300,
    });
    await f.warden.user.tokens.verify();
    await expect(f.warden.user.tokens.verify()).rejects.toMatchObject({ status: 429 });
    await admin(f.sim, 'DELETE', '/rate-limit');
    await f.warden.user.tokens.verify();

    const before = f.sim.clock.now();
    const moved = await admin(f.sim, 'POST', '/clock', { advanceMs: 3_600_000 });
    expect(Date.parse((moved.body.result as { now: string }).now)).toBeGreaterThanOrEqual(before + 3_600_000);
    expect((await admin(f.sim, 'POST', '/faults', { status: 'nope' })).status).toBe(400);
  });
});

describe('never crashing', () => {
  it('answers Cloudflare envelopes for malformed JSON, invalid bodies, unknown routes and wrong methods', async () => {
    f = await startDemo();
    const token = required(f.demo.apiTokens.warden.value);
    const base = `/accounts/${f.demo.accountId}/access/service_tokens`;
    const malformed = await fetch(`${f.sim.baseURL}${base}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: '{"name": ',
    });
    expect([malformed.status, errorCode(await malformed.json())]).toEqual([400, 6007]);
    const invalid = await raw(f.sim, 'POST', base, { token, body: { name: 42 } });
    expect(invalid.status).toBe(400);
    expect(invalid.body).toMatchObject({ success: false, result: null });
    const unknown = await raw(f.sim, 'GET', '/accounts/x/nothing-here', { token });
    expect([unknown.status, errorCode(unknown.body)]).toEqual([404, 7003]);
    const wrongMethod = await raw(f.sim, 'PATCH', base, { token });
    expect(wrongMethod.status).toBe(404);
    const text = await fetch(`${f.sim.baseURL}${base}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
      body: 'hi',
    });
    expect(text.status).toBeLessThan(500);
    expect(await text.json()).toMatchObject({ success: false });
    const head = await fetch(`${f.sim.baseURL}/user/tokens/verify`, { method: 'HEAD' });
    expect(head.status).toBe(400);
    const missing = await raw(f.sim, 'GET', `${base}/not-a-token`, { token });
    expect([missing.status, (missing.body as { success: boolean }).success]).toEqual([404, false]);
  });
});
