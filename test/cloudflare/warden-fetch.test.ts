import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { wardenFetch } from '../../src/cloudflare/warden-fetch';

/** A loopback API that accepts only the token it is told is live. */
function startApi(): Promise<{ server: Server; url: string; live: { token: string }; seen: string[] }> {
  const live = { token: 'old' };
  const seen: string[] = [];
  const server = createServer((req, res) => {
    const token = (req.headers.authorization ?? '').replace(/^Bearer /, '');
    seen.push(token);
    res.writeHead(token === live.token ? 200 : 403, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ success: token === live.token }));
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, live, seen }),
    ),
  );
}

/** A stand-in for the budget: counts the units taken; `before`/`after` run around each send. */
function countingMeter(hooks: { before?: () => void; after?: () => void } = {}) {
  const meter = {
    units: 0,
    wrap:
      (send: typeof fetch): typeof fetch =>
      async (input, init) => {
        meter.units += 1;
        hooks.before?.();
        const response = await send(input, init);
        hooks.after?.();
        return response;
      },
  };
  return meter;
}

describe("token-warden's own requests while its token is rotated", () => {
  let api: Awaited<ReturnType<typeof startApi>>;
  beforeEach(async () => (api = await startApi()));
  afterEach(() => new Promise((resolve) => api.server.close(resolve)));

  it('carry the token current when they are sent, after waiting for the budget', async () => {
    let current = 'old';
    // The budget's wait: the token changes while the request waits for its unit.
    const meter = countingMeter({ before: () => void (current = api.live.token = 'new') });
    const send = wardenFetch(() => current, meter.wrap);
    const response = await send(api.url, { headers: { authorization: 'Bearer old' } });
    expect(response.status).toBe(200);
    expect(api.seen).toEqual(['new']);
    expect(meter.units).toBe(1);
  });

  it('send once more, metered again, when the token changed while the request was on its way', async () => {
    let current = 'old';
    // The old token was deleted and the file switched while the answer came back.
    const meter = countingMeter({ after: () => void (current = 'new') });
    api.live.token = 'new';
    const response = await wardenFetch(() => current, meter.wrap)(api.url, {});
    expect(response.status).toBe(200);
    expect(api.seen).toEqual(['old', 'new']);
    expect(meter.units).toBe(2);
  });

  it('hand a refusal through when the token did not change: a dead token is not retried', async () => {
    const meter = countingMeter();
    api.live.token = 'other';
    const response = await wardenFetch(() => 'old', meter.wrap)(api.url, {});
    expect(response.status).toBe(403);
    expect(meter.units).toBe(1);
  });
});
