import type { FastifyPluginAsync } from 'fastify';
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { z } from 'zod';
import type { MetricsQueries } from '../../db/metrics-queries';
import { authErrors, backendErrors } from '../errors';

export interface MetricsRouteDeps {
  metrics: MetricsQueries;
  /** Service tokens' expiry as Cloudflare has it; cached by the caller, absent when unknown. */
  serviceTokenExpiry?: () => Promise<Array<{ accountId: string; tokenName: string; expiresAt: string | null }>>;
}

const HEALTH_STATES = ['healthy', 'degraded', 'unhealthy'] as const;

/**
 * Prometheus metrics, computed at scrape time from Postgres (and Cloudflare's expiry dates), so
 * every API replica reports the same numbers. Names follow the seed's alert rules
 * (`service_token_expiry_days < 30`).
 */
export const metricsRoutes: FastifyPluginAsync<MetricsRouteDeps> = async (app, deps) => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'token_warden_' });

  new Gauge({
    name: 'token_warden_rotations',
    help: 'Rotation runs recorded in Postgres, by token and final status',
    labelNames: ['account_id', 'token', 'status'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await deps.metrics.rotationCounts()) this.set({ account_id: row.accountId, token: row.tokenName, status: row.status }, row.count);
    },
  });
  new Gauge({
    name: 'token_warden_rotation_last_completed_timestamp_seconds',
    help: 'When the last rotation of a service token completed',
    labelNames: ['account_id', 'token'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const row of await deps.metrics.rotationCounts()) {
        if (row.status === 'completed' && row.lastFinishedAt) this.set({ account_id: row.accountId, token: row.tokenName }, row.lastFinishedAt.getTime() / 1000);
      }
    },
  });
  new Gauge({
    name: 'token_warden_api_token_health',
    help: 'Health of each API token at the last check (1 for its current state)',
    labelNames: ['account_id', 'token', 'kind', 'state'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const token of await deps.metrics.latestHealth()) {
        for (const state of HEALTH_STATES) this.set({ account_id: token.accountId, token: token.name, kind: token.kind, state }, token.state === state ? 1 : 0);
      }
    },
  });
  new Gauge({
    name: 'token_warden_api_token_missing_permissions',
    help: 'Required permissions an API token lacked at the last check',
    labelNames: ['account_id', 'token'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const token of await deps.metrics.latestHealth()) this.set({ account_id: token.accountId, token: token.name }, token.missingPermissions);
    },
  });
  new Gauge({
    name: 'token_warden_api_token_expiry_days',
    help: 'Days until an API token expires, at the last check (absent: never expires)',
    labelNames: ['account_id', 'token'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const token of await deps.metrics.latestHealth()) if (token.daysUntilExpiry !== null) this.set({ account_id: token.accountId, token: token.name }, token.daysUntilExpiry);
    },
  });
  new Gauge({
    name: 'token_warden_service_token_expiry_days',
    help: 'Days until a managed Access service token expires',
    labelNames: ['account_id', 'token'],
    registers: [registry],
    async collect() {
      this.reset();
      if (!deps.serviceTokenExpiry) return;
      const now = Date.now();
      for (const token of await deps.serviceTokenExpiry()) {
        if (token.expiresAt) this.set({ account_id: token.accountId, token: token.tokenName }, Math.floor((Date.parse(token.expiresAt) - now) / 86_400_000));
      }
    },
  });

  app.get(
    '/metrics',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (bearer token required)',
        response: { 200: { description: 'Prometheus text exposition format', content: { [registry.contentType]: { schema: z.string() } } }, ...authErrors, ...backendErrors },
      },
    },
    async (_request, reply) => {
      const body = await registry.metrics();
      return reply.type(registry.contentType).send(body);
    },
  );
};
