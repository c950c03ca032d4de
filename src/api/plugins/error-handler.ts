import { isGrpcServiceError, ServiceError, WorkflowNotFoundError } from '@temporalio/client';
import type { FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { DatabaseError } from 'pg';
import { HttpError } from '../errors';

function send(reply: FastifyReply, status: number, code: string, message: string) {
  return reply.code(status).send({ success: false, error: { code, message } });
}

/** gRPC status codes Temporal answers with (google.rpc.Code). */
const GRPC = {
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  RESOURCE_EXHAUSTED: 8,
  OUT_OF_RANGE: 11,
  UNAVAILABLE: 14,
} as const;

function grpcStatusOf(error: unknown): { code: number; details: string } | undefined {
  const grpc = isGrpcServiceError(error)
    ? error
    : error instanceof ServiceError && isGrpcServiceError(error.cause)
      ? error.cause
      : undefined;
  return grpc ? { code: grpc.code, details: grpc.details } : undefined;
}

/** Node's socket errors: the database (or Temporal) is not there, not a bug. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH']);
const POOL_UNREACHABLE = /^(Connection terminated|timeout exceeded when trying to connect)/;

/**
 * Errors of Temporal and Postgres, mapped by cause: what stems from the client's input is its
 * 4xx (a run id Temporal calls invalid, a value Postgres refuses as data, class 22), an outage is
 * a 503 to retry; anything else stays a 500, which is a bug.
 */
function backendError(error: unknown): HttpError | undefined {
  if (error instanceof WorkflowNotFoundError) return new HttpError(404, 'not_found', 'no such workflow run');
  const grpc = grpcStatusOf(error);
  if (grpc) {
    const details = grpc.details.slice(0, 200);
    if (grpc.code === GRPC.INVALID_ARGUMENT || grpc.code === GRPC.OUT_OF_RANGE)
      return new HttpError(400, 'invalid_argument', `Temporal refused the request: ${details}`);
    if (grpc.code === GRPC.NOT_FOUND) return new HttpError(404, 'not_found', `Temporal: ${details}`);
    if (grpc.code === GRPC.ALREADY_EXISTS) return new HttpError(409, 'conflict', `Temporal: ${details}`);
    if (grpc.code === GRPC.UNAVAILABLE || grpc.code === GRPC.DEADLINE_EXCEEDED || grpc.code === GRPC.RESOURCE_EXHAUSTED)
      return new HttpError(503, 'temporal_unavailable', 'Temporal did not answer; try again shortly');
    return undefined;
  }
  if (error instanceof DatabaseError && error.code) {
    if (error.code.startsWith('22'))
      return new HttpError(400, 'invalid_input', `a value of the request is not valid data (Postgres ${error.code})`);
    if (error.code.startsWith('08') || error.code.startsWith('57P') || error.code === '53300')
      return new HttpError(503, 'database_unavailable', 'the database is unavailable; try again shortly');
    return undefined;
  }
  // Socket errors come from Node's own realm: duck-typed, not `instanceof Error`.
  const code = typeof error === 'object' && error !== null && 'code' in error ? error.code : undefined;
  const message = typeof error === 'object' && error !== null && 'message' in error ? String(error.message) : '';
  if ((typeof code === 'string' && UNREACHABLE_CODES.has(code)) || POOL_UNREACHABLE.test(message)) {
    return new HttpError(503, 'unavailable', 'a backing service is unavailable; try again shortly');
  }
  return undefined;
}

const FASTIFY_CODES: Record<number, string> = {
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  431: 'headers_too_large',
};

/** A route pattern (`/service-tokens/:name/rotate`, `/workflows/*`) as a regular expression. */
function routePattern(url: string): RegExp {
  const source = url
    .split('/')
    .map((segment) =>
      segment.startsWith(':') ? '[^/]+' : segment === '*' ? '.*' : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
    )
    .join('/');
  return new RegExp(`^${source}$`);
}

/**
 * One mapping from errors to JSON: 4xx say what was wrong, 5xx say nothing internal. A method
 * the path does not serve answers 405 with `Allow` (RFC 9110), not 404.
 */
export const errorHandlerPlugin = fp(async (app) => {
  const routes: Array<{ pattern: RegExp; methods: string[] }> = [];
  app.addHook('onRoute', (route) => {
    // A catch-all (CORS answers preflight `OPTIONS *`) says nothing about which paths exist.
    if (route.url === '*' || route.url === '/*') return;
    routes.push({ pattern: routePattern(route.url), methods: [route.method].flat().map(String) });
  });
  const allowedMethods = (request: FastifyRequest): string[] => {
    const path = request.url.split('?')[0] ?? '/';
    return [...new Set(routes.filter((r) => r.pattern.test(path)).flatMap((r) => r.methods))].sort();
  };
  const methodNotAllowed = (request: FastifyRequest, reply: FastifyReply): FastifyReply | undefined => {
    const allowed = allowedMethods(request);
    if (!allowed.length || allowed.includes(request.method)) return undefined;
    return send(
      reply.header('allow', allowed.join(', ')),
      405,
      'method_not_allowed',
      `${request.method} is not served at ${request.url.split('?')[0]}; allowed: ${allowed.join(', ')}`,
    );
  };

  app.setNotFoundHandler(
    (request, reply) =>
      methodNotAllowed(request, reply) ??
      send(reply, 404, 'not_found', `no route ${request.method} ${request.url.split('?')[0]}`),
  );
  app.setErrorHandler((error, request, reply) => {
    if (hasZodFastifySchemaValidationErrors(error)) {
      const issues = error.validation.map((issue) => {
        const where = [error.validationContext, issue.instancePath.replace(/^\//, '').replace(/\//g, '.')]
          .filter(Boolean)
          .join('.');
        return `${where}: ${issue.message}`;
      });
      return send(reply, 400, 'validation_error', issues.join('; '));
    }
    if (error instanceof HttpError) return send(reply, error.statusCode, error.code, error.message);
    // A request for a path served under another method fails in the body parser before the 404 handler.
    if (request.is404) {
      const refused = methodNotAllowed(request, reply);
      if (refused) return refused;
    }
    const mapped = backendError(error);
    if (mapped) {
      if (mapped.statusCode >= 500) request.log.warn({ err: error }, 'a backing service is unavailable');
      if (mapped.statusCode === 503) reply.header('retry-after', '5');
      return send(reply, mapped.statusCode, mapped.code, mapped.message);
    }
    const status = (error as { statusCode?: number }).statusCode;
    if (typeof status === 'number' && status >= 400 && status < 500)
      return send(reply, status, FASTIFY_CODES[status] ?? 'bad_request', (error as Error).message);
    request.log.error({ err: error }, 'request failed');
    return send(reply, 500, 'internal_error', 'internal error; see the server log');
  });
});
