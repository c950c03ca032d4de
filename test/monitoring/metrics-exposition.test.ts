import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ApiClient } from '../../src/api/clients';
import { startStack, TEST_CLIENT, type Stack } from '../support/stack';
import { promtool } from './promtool';
import { recordMonitoringState } from './recorded-state';

const MONITORING = path.resolve(__dirname, '../../monitoring');
const METRIC_NAME = /\btoken_warden_[a-z0-9_]+\b/g;

/** The service token a consumer presents with CF-Access headers, as the seed's clients do. */
const ACCESS_CLIENT: ApiClient = {
  name: 'backup-consumer',
  access: { clientId: `${randomBytes(8).toString('hex')}.access`, clientSecret: randomBytes(24).toString('hex') },
  scopes: ['read'],
  rateLimit: { max: 2, perSeconds: 60 },
};

/** Every sample's metric name in an exposition (comments skipped). */
function exposedNames(exposition: string): Set<string> {
  return new Set(
    exposition
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)![0]),
  );
}

/** Every `expr` in a Grafana dashboard, panels nested in rows included. */
function dashboardExpressions(node: unknown): string[] {
  if (Array.isArray(node)) return node.flatMap(dashboardExpressions);
  if (!node || typeof node !== 'object') return [];
  return Object.entries(node).flatMap(([key, value]) =>
    key === 'expr' && typeof value === 'string' ? [value] : dashboardExpressions(value),
  );
}

describe('/metrics as the API serves it, against real Postgres and the simulator', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tw-monitoring-'));
  let stack: Stack | undefined;
  let exposition = '';

  afterAll(async () => {
    await stack?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeAll(async () => {
    stack = await startStack({
      simulator: { seed: 'demo' },
      // The demo's backup-job expires in 20 days.
      inventory: (sim) => ({
        accounts: [
          {
            id: sim.demo!.accountId,
            serviceTokens: [
              { name: 'backup-job', targets: [{ kind: 'file', path: path.join(dir, 'backup-job.env') }] },
            ],
          },
        ],
      }),
    });
    await recordMonitoringState(stack, 'backup-job');
    const app = await stack.app({ clients: [TEST_CLIENT, ACCESS_CLIENT] });
    const access = {
      'cf-access-client-id': ACCESS_CLIENT.access!.clientId,
      'cf-access-client-secret': ACCESS_CLIENT.access!.clientSecret,
    };
    const answers = [
      await app.inject({ url: '/service-tokens', headers: access }),
      await app.inject({ url: '/service-tokens', headers: access }),
      await app.inject({ url: '/service-tokens', headers: access }), // over its limit of 2
      await app.inject({
        url: '/service-tokens',
        headers: { ...access, 'cf-access-client-secret': 'stale-secret-from-before-a-rotation' },
      }),
      await app.inject({ url: '/service-tokens', headers: { authorization: 'Bearer wrong' } }),
      await app.inject({ url: '/service-tokens' }),
    ];
    expect(answers.map((a) => a.statusCode)).toEqual([200, 200, 429, 401, 401, 401]);
    const response = await app.inject({ url: '/metrics', headers: stack.auth });
    expect(response.statusCode).toBe(200);
    exposition = response.body;
  });

  it('passes promtool check metrics', () => {
    const result = promtool(['check', 'metrics'], { input: exposition });
    expect(result).toEqual({ status: 0, output: '' });
  });

  it('exposes service tokens, API tokens and the budget in cert-manager style, no day counts', () => {
    const accountId = stack!.inventory.accounts[0]!.id;
    const token = `account_id="${accountId}",token="backup-job"`;
    const expiresIn =
      Number(
        new RegExp(`^token_warden_service_token_expiration_timestamp_seconds\\{${token}\\} (\\S+)$`, 'm').exec(
          exposition,
        )?.[1],
      ) -
      Date.now() / 1000;
    expect(expiresIn / 86_400).toBeCloseTo(20, 0);
    expect(exposition).toContain(`token_warden_service_token_last_rotation_status{${token},status="failed"} 1`);
    expect(exposition).toContain(`token_warden_service_token_ready_status{${token},condition="False"} 1`);
    expect(exposition).toMatch(
      new RegExp(`^token_warden_service_token_last_rotation_timestamp_seconds\\{${token}\\} \\d+`, 'm'),
    );
    expect(exposition).toContain(
      `token_warden_api_token_health{account_id="${accountId}",token="CLOUDFLARE_ACCOUNT_TOKEN",kind="account",state="degraded"} 1`,
    );
    expect(exposition).toContain(
      `token_warden_api_token_last_heal_success{account_id="${accountId}",token="CLOUDFLARE_ACCOUNT_TOKEN"} 0`,
    );
    expect(exposition).toContain('token_warden_own_token_missing_permissions{token_id="tok-warden"} 1');
    expect(exposition).toContain('token_warden_cloudflare_budget_rate_limited_total{owner="monitoring-user"} 1');
    expect(exposition).toContain('token_warden_cloudflare_budget_remaining_requests{owner="monitoring-user"} 0');
    const discovered = `account_id="${accountId}",kind="service-token"`;
    expect(exposition).toContain(`token_warden_unmanaged_credentials{${discovered}} 1`);
    expect(exposition).toContain(`token_warden_credentials_without_expiry{${discovered}} 1`);
    expect(exposition).not.toMatch(/_days\b/);
  });

  it('counts API requests by client, credential, route and status, and refused authentications by reason', () => {
    const request = 'client="backup-consumer",credential="cf-access",method="GET",route="/service-tokens"';
    expect(exposition).toContain(`token_warden_api_requests_total{${request},status="200"} 2`);
    expect(exposition).toContain(`token_warden_api_requests_total{${request},status="429"} 1`);
    expect(exposition).toContain(
      'token_warden_api_authentication_failures_total{credential="cf-access",reason="invalid"} 1',
    );
    expect(exposition).toContain(
      'token_warden_api_authentication_failures_total{credential="bearer",reason="invalid"} 1',
    );
    expect(exposition).toContain(
      'token_warden_api_authentication_failures_total{credential="none",reason="missing"} 1',
    );
  });

  it('has every metric the alert rules and the Grafana dashboard use', () => {
    const rules = readFileSync(path.join(MONITORING, 'token-warden-alerts.yaml'), 'utf8');
    const dashboard: unknown = JSON.parse(readFileSync(path.join(MONITORING, 'token-warden-dashboard.json'), 'utf8'));
    const used = new Set([
      ...(rules.match(METRIC_NAME) ?? []),
      ...dashboardExpressions(dashboard).flatMap((expr) => expr.match(METRIC_NAME) ?? []),
    ]);
    expect(used.size).toBeGreaterThan(15);
    const exposed = exposedNames(exposition);
    expect([...used].filter((name) => !exposed.has(name))).toEqual([]);
  });
});
