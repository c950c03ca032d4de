import { randomBytes } from 'node:crypto';
import type { SweepResult } from '../../src/workflows/sweep-expiry';
import { startApiTokenFixture, type ApiTokenFixture } from '../support/api-token-fixture';

const DAY = 86_400_000;

describe('the expiry sweep renews API tokens, on the real stack', () => {
  let f: ApiTokenFixture;

  beforeAll(async () => {
    f = await startApiTokenFixture([
      { name: 'expiring', kind: 'account', stores: 'file', expiresInDays: 10 },
      { name: 'far-away', kind: 'user', stores: 'file', expiresInDays: 200, every: '720h', issuedDaysAgo: 20 },
      { name: 'monthly', kind: 'account', stores: 'file', expiresInDays: 200, every: '720h', issuedDaysAgo: 31 },
    ]);
  });
  afterAll(async () => f?.close());

  it('gives a token expiring in 10 days (renewBefore 30 days) and one older than its `every` a successor, and leaves one far from both alone', async () => {
    const expiring = f.tokens['expiring']!;
    const farValue = f.fileValue('far-away');
    const result = (await f.stack.client.workflow.execute('sweepExpiry', {
      taskQueue: f.stack.taskQueue,
      workflowId: `test/sweep/${randomBytes(4).toString('hex')}`,
      args: [{ trigger: { actor: 'schedule:test-sweep' } }],
    })) as SweepResult;

    expect(result.apiTokens).toEqual([
      { accountId: f.accountId, tokenName: 'expiring', expiresOn: expect.any(String), outcome: 'completed' },
      { accountId: f.accountId, tokenName: 'monthly', expiresOn: expect.any(String), outcome: 'completed' },
    ]);
    // `every: 720h` on a token issued 31 days ago: a scheduled rotation, the old token gone.
    const [monthly] = await f.stack.rotations.listRotations({ tokenName: 'monthly', kind: 'api-token', limit: 1 });
    expect(monthly).toMatchObject({ mode: 'scheduled', status: 'completed' });
    expect(f.stack.sim.state.apiTokens.get(f.tokens['monthly']!.id)).toBeUndefined();
    // The expiring token is gone; its successor is in the store, accepted, and lives for its duration.
    expect(f.stack.sim.state.apiTokens.get(expiring.id)).toBeUndefined();
    const successorId = f.fileTokenId('expiring');
    expect(successorId).not.toBe(expiring.id);
    expect(await f.verify('expiring', f.fileValue('expiring'))).toBe(200);
    const expires = Date.parse(f.stack.sim.state.apiTokens.get(successorId)!.expires_on!);
    expect(expires).toBeGreaterThan(Date.now() + 80 * DAY);
    // The other token was not touched.
    expect(f.fileValue('far-away')).toBe(farValue);
    expect(f.stack.sim.state.apiTokens.get(f.tokens['far-away']!.id)).toBeDefined();
    const [row] = await f.stack.rotations.listRotations({ tokenName: 'expiring', kind: 'api-token', limit: 1 });
    expect(row).toMatchObject({ mode: 'expiry', status: 'completed', triggeredBy: 'schedule:test-sweep' });

    // /metrics: the API token's last rotation is there; service-token gauges do not count it.
    const app = await f.stack.app();
    const metrics = (await app.inject({ method: 'GET', url: '/metrics', headers: f.stack.auth })).body;
    expect(metrics).toMatch(/^token_warden_api_token_last_rotation_timestamp_seconds\{[^}]*token="expiring"\} \d+/m);
    expect(metrics).not.toMatch(/token_warden_api_token_last_rotation_timestamp_seconds\{[^}]*token="far-away"/);
    expect(metrics).not.toMatch(/token_warden_service_token_[a-z_]+\{[^}]*token="expiring"/);
  });

  it('shows in the health report when each rotated token is renewed next', async () => {
    const app = await f.stack.app();
    const health = (await app.inject({ method: 'GET', url: '/tokens/health', headers: f.stack.auth })).json();
    const details = health.data.token_details as Array<{ name: string; expires_on: string; next_rotation_at: string }>;
    const detail = (name: string) => details.find((d) => d.name === name)!;
    // No `every`: 30 days (renewBefore) ahead of expiry.
    const expiring = detail('expiring');
    expect(Date.parse(expiring.next_rotation_at)).toBe(Date.parse(expiring.expires_on) - 30 * DAY);
    // `every: 720h` comes first: 30 days after the value was issued (20 days ago; just now for the successor).
    for (const [name, issuedAgo] of [
      ['far-away', 20 * DAY],
      ['monthly', 0],
    ] as const) {
      const due = Date.parse(detail(name).next_rotation_at);
      expect(due).toBeLessThan(Date.parse(detail(name).expires_on) - 30 * DAY);
      expect(Math.abs(due - (Date.now() - issuedAgo + 30 * DAY))).toBeLessThan(5 * 60_000);
    }
  });
});
