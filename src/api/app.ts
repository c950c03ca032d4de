import Fastify, { type FastifyBaseLogger } from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { HistoryRepository } from '../db/history-repository';
import { AccessLogController } from './access-log';
import type { AuthFailureLimit } from './auth-failures';
import type { ApiClient } from './clients';
import { authPlugin } from './plugins/auth';
import { docsPlugin } from './plugins/docs';
import { errorHandlerPlugin } from './plugins/error-handler';
import { hostCheckPlugin, LOOPBACK_HOSTS } from './plugins/host-check';
import { securityHeadersPlugin } from './plugins/security-headers';
import { apiTokenRoutes, type ApiTokenRouteDeps } from './routes/api-tokens';
import { apiTokenListingRoutes } from './routes/api-token-listing';
import { apiTokenRotationRoutes } from './routes/api-token-rotation';
import { codecCors, codecRoutes, type CodecRouteOptions } from './routes/codec';
import { rotationRoutes, type RotationRouteDeps } from './routes/rotations';
import { serviceTokenRoutes, type ServiceTokenRouteDeps } from './routes/service-tokens';
import { DEFAULT_STATUS_MAX_AGE_MS, tokenRoutes } from './routes/tokens';
import { workflowRoutes } from './routes/workflows';
import { fanOutRoutes } from './routes/fan-outs';
import { metricsRoutes, type MetricsRouteDeps } from './routes/metrics';
import { dashboardRoutes, type DashboardOptions } from './routes/dashboard';
import { healthRoutes, type ReadinessChecks } from './routes/health';
import { discoveredRoutes, type DiscoveredRouteDeps } from './routes/discovered';

export interface AppDeps
  extends Omit<ApiTokenRouteDeps, 'history'>, Omit<ServiceTokenRouteDeps, 'history' | 'rotations'> {
  history: HistoryRepository;
  rotations: ServiceTokenRouteDeps['rotations'] & RotationRouteDeps['rotations'];
  clients: readonly ApiClient[];
  /** Requests per client without a limit of its own (default 600 a minute). */
  rateLimit?: { max: number; perSeconds: number };
  /** Failed authentications per source address before 429s (default 100 a minute). */
  authFailureLimit?: AuthFailureLimit;
  /**
   * Host names the API answers to (any other `Host` gets 403). Default: none checked, except when
   * the codec is public (simulation mode on loopback), where only loopback names pass.
   */
  allowedHosts?: readonly string[];
  readiness: ReadinessChecks;
  codec: CodecRouteOptions;
  /** Absent in harnesses that do not need /metrics. */
  metrics?: MetricsRouteDeps['metrics'];
  dashboard?: DashboardOptions;
  /** Discovery's records; absent in harnesses without them, and then no /inventory/discover* routes. */
  discovered?: DiscoveredRouteDeps['discovered'];
  logger?: FastifyBaseLogger | false;
  /** `/tokens/status` starts a check when the latest recorded one is older than this (default 15 minutes). */
  statusMaxAgeMs?: number;
}

/** Enough for a mistyped token retried by hand or a script; a guesser gets 100 tries a minute from one address. */
export const DEFAULT_AUTH_FAILURE_LIMIT: AuthFailureLimit = { max: 100, perSeconds: 60 };

/** Builds the API (not listening): tests call `inject`, server.ts calls `listen`. */
export async function buildApp(deps: AppDeps) {
  const app = Fastify({
    ...(deps.logger ? { loggerInstance: deps.logger } : { logger: false }),
    // Longer than any param the schemas accept, so a long one is a 400 naming it, not the router's 414.
    routerOptions: { maxParamLength: 2_000 },
    // A `__proto__` or `constructor.prototype` key in a JSON body is dropped, never applied: the rest
    // of the body is as valid as without it (refusing it would reject bodies the schemas allow).
    onProtoPoisoning: 'remove',
    onConstructorPoisoning: 'remove',
    // Access logs at debug level, off the hot path.
    logController: new AccessLogController(),
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  await app.register(errorHandlerPlugin);
  const allowedHosts = deps.allowedHosts ?? (deps.codec.public ? LOOPBACK_HOSTS : undefined);
  // First of the request hooks: a rebinding page's request is refused before anything reads it.
  if (allowedHosts) await app.register(hostCheckPlugin, { allowedHosts });
  await app.register(securityHeadersPlugin);
  await app.register(docsPlugin);
  await app.register(codecCors, { uiOrigins: deps.codec.uiOrigins });
  await app.register(authPlugin, {
    clients: deps.clients,
    defaultRateLimit: deps.rateLimit ?? { max: 600, perSeconds: 60 },
    authFailureLimit: deps.authFailureLimit ?? DEFAULT_AUTH_FAILURE_LIMIT,
    uiIdentity: deps.codec.uiIdentity,
  });
  await app.register(healthRoutes, { readiness: deps.readiness });
  await app.register(apiTokenRoutes, deps);
  await app.register(apiTokenListingRoutes, deps);
  await app.register(apiTokenRotationRoutes, deps);
  await app.register(tokenRoutes, { ...deps, statusMaxAgeMs: deps.statusMaxAgeMs ?? DEFAULT_STATUS_MAX_AGE_MS });
  await app.register(serviceTokenRoutes, deps);
  await app.register(rotationRoutes, deps);
  await app.register(workflowRoutes, deps);
  await app.register(fanOutRoutes, deps);
  if (deps.discovered) await app.register(discoveredRoutes, { ...deps, discovered: deps.discovered });
  await app.register(dashboardRoutes, deps.dashboard ?? { temporalUiUrl: null, namespace: 'default' });
  if (deps.metrics)
    await app.register(metricsRoutes, { metrics: deps.metrics, serviceTokenExpiry: deps.serviceTokenExpiry });
  await app.register(codecRoutes, deps.codec);
  return app;
}
