import Fastify, { type FastifyBaseLogger } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { HistoryRepository } from '../db/history-repository';
import type { ApiClient } from './clients';
import { authPlugin } from './plugins/auth';
import { docsPlugin } from './plugins/docs';
import { errorHandlerPlugin } from './plugins/error-handler';
import { apiTokenRoutes, type ApiTokenRouteDeps } from './routes/api-tokens';
import { codecRoutes, type CodecRouteOptions } from './routes/codec';
import { serviceTokenRoutes, type ServiceTokenRouteDeps } from './routes/service-tokens';
import { DEFAULT_STATUS_MAX_AGE_MS, tokenRoutes } from './routes/tokens';
import { workflowRoutes } from './routes/workflows';
import { fanOutRoutes } from './routes/fan-outs';
import { metricsRoutes, type MetricsRouteDeps } from './routes/metrics';
import { dashboardRoutes, type DashboardOptions } from './routes/dashboard';
import { healthRoutes, type ReadinessChecks } from './routes/health';

export interface AppDeps extends Omit<ApiTokenRouteDeps, 'history'>, Omit<ServiceTokenRouteDeps, 'history'> {
  history: HistoryRepository;
  clients: readonly ApiClient[];
  /** Requests per client without a limit of its own (default 600 a minute). */
  rateLimit?: { max: number; perSeconds: number };
  readiness: ReadinessChecks;
  codec: CodecRouteOptions;
  /** Absent in harnesses that do not need /metrics. */
  metrics?: MetricsRouteDeps['metrics'];
  dashboard?: DashboardOptions;
  logger?: FastifyBaseLogger | false;
  /** `/tokens/status` starts a check when the latest recorded one is older than this (default 15 minutes). */
  statusMaxAgeMs?: number;
}

/** Builds the API (not listening): tests call `inject`, server.ts calls `listen`. */
export async function buildApp(deps: AppDeps) {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(errorHandlerPlugin);
  await app.register(docsPlugin);
  await app.register(authPlugin, { clients: deps.clients, defaultRateLimit: deps.rateLimit ?? { max: 600, perSeconds: 60 } });
  await app.register(healthRoutes, { readiness: deps.readiness });
  await app.register(apiTokenRoutes, deps);
  await app.register(tokenRoutes, { ...deps, statusMaxAgeMs: deps.statusMaxAgeMs ?? DEFAULT_STATUS_MAX_AGE_MS });
  await app.register(serviceTokenRoutes, deps);
  await app.register(workflowRoutes, deps);
  await app.register(fanOutRoutes, deps);
  await app.register(dashboardRoutes, deps.dashboard ?? { temporalUiUrl: null, namespace: 'default' });
  if (deps.metrics) await app.register(metricsRoutes, { metrics: deps.metrics, serviceTokenExpiry: deps.serviceTokenExpiry });
  await app.register(codecRoutes, deps.codec);
  return app;
}
