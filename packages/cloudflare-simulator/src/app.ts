import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { validatorCompiler } from 'fastify-type-provider-zod';
import { ADMIN_PREFIX, adminRoutes } from './admin';
import { installApiPipeline } from './api-pipeline';
import type { CallCounter } from './calls';
import type { SimClock } from './clock';
import { failure } from './envelopes';
import { CloudflareApiError, CODE } from './errors';
import type { FaultController } from './faults';
import { OperationRegistry } from './operations';
import { probeRoutes } from './probe';
import type { RateLimiter } from './rate-limit';
import { RateLimitControl } from './rate-limit-control';
import { accessRoutes } from './routes/access';
import { apiTokenRoutes } from './routes/api-tokens';
import { secretsStoreRoutes } from './routes/secrets-store';
import { serviceTokenRoutes } from './routes/service-tokens';
import { workerSecretRoutes } from './routes/workers-secrets';
import type { SimulatorState } from './state/state';

export const API_PREFIX = '/client/v4';

export interface SimulatorAppDeps {
  state: SimulatorState;
  faults: FaultController;
  rateLimiter: RateLimiter;
  /** Keys, outside traffic and listeners over `rateLimiter`; built from rateLimiter, calls and state when omitted. */
  rateLimit?: RateLimitControl;
  calls: CallCounter;
  clock: SimClock;
  adminKey: string;
  /** A pino-compatible logger, or false/undefined for none. Request logs never include headers. */
  logger?: false | FastifyBaseLogger;
  /** Filled with every API operation as routes register; pass one in to inspect them. */
  operations?: OperationRegistry;
}

type HttpError = Error & {
  statusCode?: number;
  code?: string;
  validation?: Array<{ instancePath?: string; message?: string }>;
  validationContext?: string;
};

function notFoundHandler(request: FastifyRequest, reply: FastifyReply): void {
  const path = request.url.split('?')[0] ?? request.url;
  void reply
    .code(404)
    .send(
      failure([
        { code: CODE.routeNotFound, message: `Could not route to ${path}, perhaps your object identifier is invalid?` },
      ]),
    );
}

function parseJson(
  _request: FastifyRequest,
  body: string | Buffer,
  done: (err: Error | null, body?: unknown) => void,
): void {
  const text = typeof body === 'string' ? body : body.toString('utf8');
  if (text.trim() === '') {
    done(null, undefined);
    return;
  }
  try {
    done(null, JSON.parse(text));
  } catch {
    done(CloudflareApiError.of(400, CODE.malformedJson, 'Malformed JSON in request body'));
  }
}

/**
 * Builds the simulator app (not listening): the Cloudflare API under /client/v4, the
 * Access-protected probe app under /probe, and the admin routes under /__sim. Every error
 * becomes a Cloudflare v4 failure envelope; nothing answers 5xx unless a fault says so.
 */
export function buildSimulatorApp(deps: SimulatorAppDeps): FastifyInstance {
  const common = { forceCloseConnections: true, bodyLimit: 1_048_576 } as const;
  const app: FastifyInstance = deps.logger
    ? Fastify({ ...common, loggerInstance: deps.logger })
    : Fastify({ ...common, logger: false });

  app.setValidatorCompiler(validatorCompiler);
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser(['application/json', 'application/merge-patch+json'], { parseAs: 'string' }, parseJson);

  app.setErrorHandler<HttpError>((error, request, reply) => {
    if (error instanceof CloudflareApiError) {
      return reply.code(error.status).headers(error.headers).send(failure(error.errors));
    }
    if (error.validation) {
      const details = error.validation.map(
        (v) => `${error.validationContext ?? 'request'}${v.instancePath ?? ''}: ${v.message ?? 'invalid'}`,
      );
      return reply
        .code(400)
        .send(failure([{ code: CODE.invalidRequest, message: `Invalid request: ${details.join('; ')}` }]));
    }
    const status = error.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      return reply.code(status).send(failure([{ code: CODE.invalidRequest, message: error.message }]));
    }
    request.log.error({ err: error }, 'simulator route failed');
    return reply.code(500).send(failure([{ code: CODE.internal, message: 'Internal error' }]));
  });
  app.setNotFoundHandler(notFoundHandler);

  const operations = deps.operations ?? new OperationRegistry();
  const rateLimit = deps.rateLimit ?? new RateLimitControl(deps.rateLimiter, deps.calls, deps.state);
  void app.register(
    async (api) => {
      const pipeline = installApiPipeline(api, { ...deps, rateLimit, operations, prefix: API_PREFIX });
      const routeDeps = { state: deps.state, operations, tokenOf: pipeline.tokenOf };
      serviceTokenRoutes(api, routeDeps);
      apiTokenRoutes(api, routeDeps);
      workerSecretRoutes(api, routeDeps);
      secretsStoreRoutes(api, routeDeps);
      accessRoutes(api, routeDeps);
      api.setNotFoundHandler(notFoundHandler);
    },
    { prefix: API_PREFIX },
  );
  void app.register(async (scope) => probeRoutes(scope, deps));
  void app.register(async (scope) => adminRoutes(scope, { ...deps, rateLimit }), { prefix: ADMIN_PREFIX });
  return app;
}
