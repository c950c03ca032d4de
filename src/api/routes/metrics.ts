import fp from 'fastify-plugin';
import { collectDefaultMetrics, Registry } from 'prom-client';
import { z } from 'zod';
import type { MetricsQueries } from '../../db/metrics-queries';
import { createApiRequestMetrics } from '../../metrics/api-request-metrics';
import { registerApiTokenMetrics } from '../../metrics/api-token-metrics';
import { registerBudgetMetrics } from '../../metrics/budget-metrics';
import { registerDiscoveryMetrics } from '../../metrics/discovery-metrics';
import { registerServiceTokenMetrics } from '../../metrics/service-token-metrics';
import { sharedWhileRunning } from '../../single-flight-memo';
import type { ServiceTokenExpiry } from '../../service-token-expiry';
import { authErrors, backendErrors } from '../errors';

export interface MetricsRouteDeps {
  metrics: MetricsQueries;
  /** Service tokens' expiry as Cloudflare has it; cached by the caller, absent when unknown. */
  serviceTokenExpiry?: () => Promise<ServiceTokenExpiry[]>;
}

/**
 * Prometheus metrics. Tokens, rotations and the Cloudflare budget are read from Postgres (and
 * Cloudflare's expiry dates) at scrape time, so every API replica reports the same numbers;
 * API requests are counted by this process. Names follow cert-manager's certificate metrics
 * (`…_expiration_timestamp_seconds`, `…_ready_status`); monitoring/ holds the alert rules.
 *
 * Not encapsulated: its onResponse hook must see every route's answers, the refused ones too.
 */
export const metricsRoutes = fp<MetricsRouteDeps>(
  async (app, deps) => {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry, prefix: 'token_warden_' });
    // Gauges prom-client names with `_total`, which Prometheus keeps for counters (promtool check
    // metrics refuses them); the same counts stay, by type, in `…_nodejs_active_handles`, `…_requests`, `…_resources`.
    for (const misnamed of [
      'nodejs_active_handles_total',
      'nodejs_active_requests_total',
      'nodejs_active_resources_total',
    ])
      registry.removeSingleMetric(`token_warden_${misnamed}`);
    // The collectors of one scrape start together: sharing each read while it runs reads every table
    // once per scrape, and every metric of it tells the same story.
    registerServiceTokenMetrics(registry, {
      rotationCounts: sharedWhileRunning(deps.metrics.rotationCounts),
      lastRotations: sharedWhileRunning(deps.metrics.lastRotations),
      expiry: deps.serviceTokenExpiry,
    });
    registerApiTokenMetrics(registry, {
      latestHealth: sharedWhileRunning(deps.metrics.latestHealth),
      latestHeal: sharedWhileRunning(deps.metrics.latestHeal),
      lastApiTokenRotations: sharedWhileRunning(deps.metrics.lastApiTokenRotations),
    });
    registerBudgetMetrics(registry, sharedWhileRunning(deps.metrics.budgets));
    registerDiscoveryMetrics(registry, sharedWhileRunning(deps.metrics.discoveredCounts));
    const apiRequests = createApiRequestMetrics(registry);
    app.addHook('onResponse', async (request, reply) => apiRequests.record(request, reply));

    app.get(
      '/metrics',
      {
        config: { scope: 'read' },
        schema: {
          tags: ['operations'],
          summary: 'Prometheus metrics (bearer token required)',
          response: {
            200: {
              description: 'Prometheus text exposition format',
              content: { [registry.contentType]: { schema: z.string() } },
            },
            ...authErrors,
            ...backendErrors,
          },
        },
      },
      async (_request, reply) => {
        const body = await registry.metrics();
        return reply.type(registry.contentType).send(body);
      },
    );
  },
  { name: 'token-warden-metrics' },
);
