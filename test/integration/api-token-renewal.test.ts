import { randomBytes } from 'node:crypto';
import type { SweepResult } from '../../src/workflows/sweep-expiry';
import { startApiTokenFixture, type ApiTokenFixture } from '../support/api-token-fixture';

const DAY = 86_400_000;

describe('the expiry sweep renews API tokens, on the real stack', () => {
  let f: ApiTokenFixture;

  beforeAll(async () => {
    f = await startApiTokenFixture([
      { name: 'expiring', kind: 'account', stores: 'file', expiresInDays: 10 },
      { name: 'far-away', kind: 'user', stores: 'file', expiresInDays: 200 },
    ]);
  });
  afterAll(async () => f?.close());

  it('gives a token expiring in 10 days (renewBefore 30 days) a successor, and leaves one far from expiry alone', async () => {
    const expiring = f.tokens['expiring']!;
    const farValue = f.fileValue('far-away');
    const result = (await f.stack.client.workflow.execute('sweepExpiry', {
      taskQueue: f.stack.taskQueue,
      workflowId: `test/sweep/${randomBytes(4).toString('hex')}`,
      args: [{ trigger: { actor: 'schedule:test-sweep' } }],
    })) as SweepResult;

    expect(result.apiTokens).toEqual([
      { accountId: f.accountId, tokenName: 'expiring', expiresOn: expect.any(String), outcome: 'completed' },
    ]);
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
    for (const name of ['expiring', 'far-away']) {
      const detail = details.find((d) => d.name === name)!;
      expect(Date.parse(detail.next_rotation_at)).toBe(Date.parse(detail.expires_on) - 30 * DAY);
    }
  });
});
