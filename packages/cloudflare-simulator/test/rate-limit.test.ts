import { RateLimitError } from 'cloudflare';
import type { CountedApiRequest, RunningSimulator } from '../src';
import { admin, client, errorCode, raw, rateLimitHeader, required, startDemo, type DemoFixture } from './support';

let f: DemoFixture;

afterEach(async () => {
  await f.sim.close();
});

/** Well-formed, but no API token has it: counts per client IP. */
const UNKNOWN_TOKEN = 'y'.repeat(40);

const verify = (sim: RunningSimulator, token: string): ReturnType<typeof raw> =>
  raw(sim, 'GET', '/user/tokens/verify', { token });

/** Statuses of `n` sequential user verify calls. */
async function verifyStatuses(sim: RunningSimulator, token: string, n: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i += 1) statuses.push((await verify(sim, token)).status);
  return statuses;
}

function tokens(fixture: DemoFixture): { warden: string; user: string; account: string } {
  const { apiTokens } = fixture.demo;
  return {
    warden: required(apiTokens.warden.value),
    user: required(apiTokens.user.value),
    account: required(apiTokens.account.value),
  };
}

describe('rate limit keys', () => {
  it('counts every token of a user against that user, valid or not, and an account-owned token on its own', async () => {
    f = await startDemo({ rateLimit: { limit: 4 } });
    const t = tokens(f);
    const disabled = f.sim.state.createApiToken({
      owner: 'user',
      name: 'off',
      permissions: ['API Tokens Read'],
      status: 'disabled',
    });
    const userKey = `user:${f.sim.state.user.id}`;
    expect(f.sim.rateLimit.keyOf(t.warden)).toBe(userKey);
    expect(f.sim.rateLimit.keyOf(t.user)).toBe(userKey);
    expect(f.sim.rateLimit.keyOf(disabled.value)).toBe(userKey);
    expect(f.sim.rateLimit.keyOf(t.account)).toBe(`account-token:${f.demo.apiTokens.account.id}`);
    expect(f.sim.rateLimit.keyOf(UNKNOWN_TOKEN)).toBeUndefined();

    expect(await verifyStatuses(f.sim, t.warden, 2)).toEqual([200, 200]);
    expect(await verifyStatuses(f.sim, disabled.value, 1)).toEqual([401]);
    expect(await verifyStatuses(f.sim, t.user, 2)).toEqual([200, 429]);
    expect(await verifyStatuses(f.sim, t.warden, 1)).toEqual([429]);

    const accountVerify = `/accounts/${f.demo.accountId}/tokens/verify`;
    expect((await raw(f.sim, 'GET', accountVerify, { token: t.account })).status).toBe(200);
    // Unknown bearers count per IP, apart from every user.
    expect((await verify(f.sim, UNKNOWN_TOKEN)).status).toBe(401);
    expect(f.sim.rateLimit.snapshot({ key: 'ip:127.0.0.1' })).toMatchObject({ count: 1, blockedUntil: null });
    expect(f.sim.rateLimit.snapshot({ tokenValue: t.account })).toMatchObject({ count: 1, remaining: 3 });
    expect(f.sim.rateLimit.snapshot({ tokenValue: t.warden })).toMatchObject({
      key: userKey,
      count: 0,
      blockedUntil: expect.any(Number),
    });
  });
});

describe('rate limit window and block', () => {
  it("refuses the 1,201st request of a user's window and every later one for a whole window, then lets requests through again", async () => {
    // timeScale 10: a 30-second window, so 1,200 requests fit in it on a slow machine.
    f = await startDemo({ timeScale: 10 });
    const t = tokens(f);
    const batches = await Promise.all(
      Array.from({ length: 8 }, (_, i) => verifyStatuses(f.sim, i % 2 === 0 ? t.warden : t.user, 150)),
    );
    expect(batches.flat().filter((s) => s === 200)).toHaveLength(1200);

    const limited = await verify(f.sim, t.warden);
    expect([limited.status, errorCode(limited.body)]).toEqual([429, 1015]);
    expect(Number(limited.headers.get('retry-after'))).toBe(30);
    expect(rateLimitHeader(limited.headers)).toEqual({ r: 0, t: 30 });
    const blockedUntil = required(f.sim.rateLimit.snapshot({ tokenValue: t.warden }).blockedUntil);

    // The window the first request opened ends first; the block still holds.
    f.sim.clock.advance(20_000);
    const later = await verify(f.sim, t.user);
    expect(later.status).toBe(429);
    const retryAfter = Number(later.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(10);
    expect(Math.abs(f.sim.clock.now() + retryAfter * 1000 - blockedUntil)).toBeLessThan(1_000);
    await expect(client(f.sim, t.user).user.tokens.verify()).rejects.toBeInstanceOf(RateLimitError);

    f.sim.clock.advance(blockedUntil - f.sim.clock.now());
    const fresh = await verify(f.sim, t.warden);
    expect(fresh.status).toBe(200);
    expect(rateLimitHeader(fresh.headers)).toEqual({ r: 1199, t: 30 });
    expect(f.sim.rateLimit.snapshot({ tokenValue: t.user })).toMatchObject({ count: 1, blockedUntil: null });
  });

  it('blocks for one whole window from the request that exceeded the limit, in time-scaled real seconds', async () => {
    f = await startDemo({ timeScale: 300, rateLimit: { limit: 3 } });
    const t = tokens(f);
    expect(await verifyStatuses(f.sim, t.warden, 3)).toEqual([200, 200, 200]);
    await new Promise((resolve) => setTimeout(resolve, 600));
    const exceeded = await verify(f.sim, t.user);
    expect([exceeded.status, exceeded.headers.get('retry-after')]).toEqual([429, '1']);
    // Past the end of the first window, but inside the block (1 s from the exceeding request).
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(await verifyStatuses(f.sim, t.warden, 1)).toEqual([429]);
    await new Promise((resolve) => setTimeout(resolve, 600));
    expect(await verifyStatuses(f.sim, t.warden, 4)).toEqual([200, 200, 200, 429]);
  });

  it('counts but never refuses when disabled, and still sends headers with r = the limit', async () => {
    f = await startDemo({ rateLimit: { enabled: false, limit: 2 } });
    const t = tokens(f);
    expect(await verifyStatuses(f.sim, t.warden, 4)).toEqual([200, 200, 200, 200]);
    const response = await verify(f.sim, t.user);
    expect(rateLimitHeader(response.headers)).toEqual({ r: 2, t: 300 });
    expect(f.sim.rateLimit.snapshot({ tokenValue: t.warden })).toMatchObject({ count: 5, blockedUntil: null });
  });
});

describe('rate limit headers', () => {
  it('sends Ratelimit and Ratelimit-Policy on a 200, a 403 and an injected fault, and Retry-After on a 429', async () => {
    f = await startDemo({ rateLimit: { limit: 4 } });
    const t = tokens(f);
    const reader = f.sim.state.createApiToken({ owner: 'user', name: 'reader', permissions: ['API Tokens Read'] });

    const allowed = await verify(f.sim, t.warden);
    expect(allowed.status).toBe(200);
    expect(allowed.headers.get('ratelimit-policy')).toBe('"default";q=4;w=300');
    expect(rateLimitHeader(allowed.headers)).toEqual({ r: 3, t: 300 });
    expect(allowed.headers.get('retry-after')).toBeNull();

    const forbidden = await raw(f.sim, 'GET', `/accounts/${f.demo.accountId}/access/service_tokens`, {
      token: reader.value,
    });
    expect([forbidden.status, errorCode(forbidden.body)]).toEqual([403, 10000]);
    expect(forbidden.headers.get('ratelimit-policy')).toBe('"default";q=4;w=300');
    expect(rateLimitHeader(forbidden.headers)).toEqual({ r: 2, t: 300 });

    const unknown = await verify(f.sim, UNKNOWN_TOKEN);
    expect(unknown.status).toBe(401);
    expect(rateLimitHeader(unknown.headers)).toEqual({ r: 3, t: 300 });

    f.sim.faults.add({ match: { operationId: 'user-api-tokens-verify-token' }, status: 503, times: 1 });
    const fault = await verify(f.sim, t.warden);
    expect(fault.status).toBe(503);
    expect(rateLimitHeader(fault.headers)).toEqual({ r: 1, t: 300 });
    expect(fault.headers.get('retry-after')).toBeNull();

    f.sim.faults.add({ match: { operationId: 'user-api-tokens-verify-token' }, status: 429, retryAfter: 7, times: 1 });
    const injected = await verify(f.sim, t.warden);
    expect([injected.status, injected.headers.get('retry-after')]).toEqual([429, '7']);
    expect(rateLimitHeader(injected.headers)).toEqual({ r: 0, t: 7 });
    expect(injected.headers.get('ratelimit-policy')).toBe('"default";q=4;w=300');

    const limited = await verify(f.sim, t.warden);
    expect([limited.status, limited.headers.get('retry-after')]).toEqual([429, '300']);
    expect(rateLimitHeader(limited.headers)).toEqual({ r: 0, t: 300 });
    expect(limited.headers.get('ratelimit-policy')).toBe('"default";q=4;w=300');
  });

  it('answers an injected 429 without retryAfter with Retry-After: 1', async () => {
    f = await startDemo();
    f.sim.faults.add({ match: { operationId: 'user-api-tokens-verify-token' }, status: 429, times: 1 });
    const injected = await verify(f.sim, tokens(f).warden);
    expect([injected.status, injected.headers.get('retry-after')]).toEqual([429, '1']);
    expect(rateLimitHeader(injected.headers)).toEqual({ r: 0, t: 1 });
  });

  it('sends none of the rate-limit headers when they are switched off, refusals included', async () => {
    f = await startDemo({ rateLimit: { limit: 2, headers: false } });
    const t = tokens(f);
    const names = (headers: Headers): Array<string | null> =>
      ['ratelimit', 'ratelimit-policy', 'retry-after'].map((n) => headers.get(n));
    const allowed = await verify(f.sim, t.warden);
    expect([allowed.status, ...names(allowed.headers)]).toEqual([200, null, null, null]);

    f.sim.faults.add({ match: { operationId: 'user-api-tokens-verify-token' }, status: 429, times: 1 });
    const injected = await verify(f.sim, t.warden);
    expect([injected.status, ...names(injected.headers)]).toEqual([429, null, null, null]);
    const limited = await verify(f.sim, t.warden);
    expect([limited.status, ...names(limited.headers)]).toEqual([429, null, null, null]);

    // Switching them back on keeps the block.
    expect(f.sim.rateLimit.configure({ headers: true })).toMatchObject({ headers: true, limit: 2 });
    const blocked = await verify(f.sim, t.user);
    expect([blocked.status, blocked.headers.get('retry-after')]).toEqual([429, '300']);
  });

  it('switches the headers off over the admin route', async () => {
    f = await startDemo();
    expect((await admin(f.sim, 'PUT', '/rate-limit', { headers: false })).body.result).toMatchObject({
      headers: false,
      limit: 1200,
    });
    const response = await verify(f.sim, tokens(f).warden);
    expect([response.status, response.headers.get('ratelimit'), response.headers.get('ratelimit-policy')]).toEqual([
      200,
      null,
      null,
    ]);
  });
});

describe('outside traffic', () => {
  it("spends a user's allowance as another client would, and can start the block", async () => {
    f = await startDemo({ rateLimit: { limit: 10 } });
    const t = tokens(f);
    const userKey = `user:${f.sim.state.user.id}`;

    expect(f.sim.rateLimit.spend({ tokenValue: t.warden }, 8)).toMatchObject({
      key: userKey,
      accepted: 8,
      refused: 0,
      blockStarted: false,
      snapshot: { count: 8, remaining: 2 },
    });
    const ours = await verify(f.sim, t.user);
    expect([ours.status, rateLimitHeader(ours.headers)?.r]).toEqual([200, 1]);

    const spent = f.sim.rateLimit.spend({ key: userKey }, 3);
    expect(spent).toMatchObject({
      accepted: 1,
      refused: 2,
      blockStarted: true,
      snapshot: { blockedUntil: expect.any(Number) },
    });
    expect((await verify(f.sim, t.warden)).status).toBe(429);
    // The account-owned token is another key.
    expect((await raw(f.sim, 'GET', `/accounts/${f.demo.accountId}/tokens/verify`, { token: t.account })).status).toBe(
      200,
    );
    expect(
      f.sim.rateLimit
        .snapshots()
        .map((s) => s.key)
        .sort(),
    ).toEqual([`account-token:${f.demo.apiTokens.account.id}`, userKey]);
    expect(() => f.sim.rateLimit.spend({ tokenValue: UNKNOWN_TOKEN }, 1)).toThrow(/no API token/);
  });

  it('spends, looks up keys and lists windows over the admin routes', async () => {
    f = await startDemo({ rateLimit: { limit: 5 } });
    const t = tokens(f);
    const userKey = `user:${f.sim.state.user.id}`;
    expect((await admin(f.sim, 'POST', '/rate-limit/key', { tokenValue: t.user })).body.result).toMatchObject({
      key: userKey,
      snapshot: { count: 0 },
    });
    expect((await admin(f.sim, 'POST', '/rate-limit/key', { tokenValue: UNKNOWN_TOKEN })).status).toBe(404);

    const spent = await admin(f.sim, 'POST', '/rate-limit/spend', { tokenValue: t.warden, n: 4 });
    expect(spent.body.result).toMatchObject({ key: userKey, accepted: 4, blockStarted: false, snapshot: { count: 4 } });
    expect(await verifyStatuses(f.sim, t.user, 1)).toEqual([200]);
    const blocking = await admin(f.sim, 'POST', '/rate-limit/spend', { key: userKey, n: 1 });
    expect(blocking.body.result).toMatchObject({ accepted: 0, refused: 1, blockStarted: true });
    expect(await verifyStatuses(f.sim, t.warden, 1)).toEqual([429]);
    expect((await admin(f.sim, 'GET', '/rate-limit/keys')).body.result).toEqual([
      { key: userKey, count: 0, remaining: 0, windowStart: null, windowEnd: null, blockedUntil: expect.any(Number) },
    ]);

    expect((await admin(f.sim, 'POST', '/rate-limit/spend', { tokenValue: t.warden, key: userKey, n: 1 })).status).toBe(
      400,
    );
    expect((await admin(f.sim, 'POST', '/rate-limit/spend', { key: userKey, n: -1 })).status).toBe(400);
    expect((await admin(f.sim, 'POST', '/rate-limit/spend', { key: userKey, n: 1 }, null)).status).toBe(401);
    await admin(f.sim, 'DELETE', '/rate-limit');
    expect(await verifyStatuses(f.sim, t.warden, 1)).toEqual([200]);
  });
});

describe('request listeners', () => {
  it('report the key each request counted against, its window, and which requests came from outside', async () => {
    f = await startDemo({ rateLimit: { limit: 3 } });
    const t = tokens(f);
    const userKey = `user:${f.sim.state.user.id}`;
    const accountKey = `account-token:${f.demo.apiTokens.account.id}`;
    const seen: CountedApiRequest[] = [];
    f.sim.calls.onRequest((event) => seen.push(event));

    await verify(f.sim, t.warden);
    await raw(f.sim, 'GET', `/accounts/${f.demo.accountId}/tokens/verify`, { token: t.account });
    await verify(f.sim, UNKNOWN_TOKEN);
    f.sim.rateLimit.spend({ tokenValue: t.user }, 2);
    await verify(f.sim, t.user);

    expect(
      seen.map(({ operationId, key, outside, rateLimited }) => ({ operationId, key, outside, rateLimited })),
    ).toEqual([
      { operationId: 'user-api-tokens-verify-token', key: userKey, outside: false, rateLimited: false },
      { operationId: 'account-api-tokens-verify-token', key: accountKey, outside: false, rateLimited: false },
      { operationId: 'user-api-tokens-verify-token', key: 'ip:127.0.0.1', outside: false, rateLimited: false },
      { operationId: 'outside', key: userKey, outside: true, rateLimited: false },
      { operationId: 'outside', key: userKey, outside: true, rateLimited: false },
      { operationId: 'user-api-tokens-verify-token', key: userKey, outside: false, rateLimited: true },
    ]);
    const userWindows = new Set(seen.filter((e) => e.key === userKey && !e.rateLimited).map((e) => e.windowStart));
    expect(userWindows).toEqual(new Set([seen[0]?.at]));
    expect(seen.at(-1)?.windowStart).toBeNull();
  });

  it('name the method and path of each API request (relative to /client/v4, no query), and none for outside ones', async () => {
    f = await startDemo();
    const t = tokens(f);
    const seen: CountedApiRequest[] = [];
    f.sim.calls.onRequest((event) => seen.push(event));
    const tokenId = required(f.demo.serviceTokens[0]).id;

    await raw(f.sim, 'POST', `/accounts/${f.demo.accountId}/access/service_tokens/${tokenId}/rotate`, {
      token: t.warden,
      body: {},
    });
    await raw(f.sim, 'GET', `/accounts/${f.demo.accountId}/access/service_tokens?page=1&per_page=50`, {
      token: t.warden,
    });
    // Refused by auth: still counted, still named.
    await raw(f.sim, 'GET', `/accounts/${f.demo.accountId}/access/service_tokens/${tokenId}`);
    f.sim.rateLimit.spend({ tokenValue: t.warden }, 1);

    expect(seen.map(({ operationId, method, path, outside }) => ({ operationId, method, path, outside }))).toEqual([
      {
        operationId: expect.any(String),
        method: 'POST',
        path: `/accounts/${f.demo.accountId}/access/service_tokens/${tokenId}/rotate`,
        outside: false,
      },
      {
        operationId: expect.any(String),
        method: 'GET',
        path: `/accounts/${f.demo.accountId}/access/service_tokens`,
        outside: false,
      },
      {
        operationId: expect.any(String),
        method: 'GET',
        path: `/accounts/${f.demo.accountId}/access/service_tokens/${tokenId}`,
        outside: false,
      },
      { operationId: 'outside', method: null, path: null, outside: true },
    ]);
  });
});
