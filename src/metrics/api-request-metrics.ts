import type { FastifyReply, FastifyRequest } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import type { Authentication } from '../api/plugins/auth';

/** The credential and failure pairs that can occur: `missing` only when no credential was presented. */
const POSSIBLE_FAILURES: ReadonlyArray<[Authentication['credential'], NonNullable<Authentication['failure']>]> = [
  ['bearer', 'invalid'],
  ['bearer', 'throttled'],
  ['cf-access', 'invalid'],
  ['cf-access', 'throttled'],
  ['none', 'missing'],
  ['none', 'throttled'],
];

/**
 * What API clients ask of this process and how authentication went (the seed's request and
 * validation metrics). Counted per process: each API replica reports its own, so sum them.
 */
export function createApiRequestMetrics(registry: Registry) {
  const requests = new Counter({
    name: 'token_warden_api_requests_total',
    help: 'API requests answered, by client (anonymous: public route or not authenticated), credential, method, route and status code',
    labelNames: ['client', 'credential', 'method', 'route', 'status'],
    registers: [registry],
  });
  const authenticationFailures = new Counter({
    name: 'token_warden_api_authentication_failures_total',
    help: 'API requests refused before reaching a route, by the credential presented and why (missing, invalid, throttled: too many failures from its address)',
    labelNames: ['credential', 'reason'],
    registers: [registry],
  });
  // Every series exists from the start, so rate() sees the first failure too.
  for (const [credential, reason] of POSSIBLE_FAILURES) authenticationFailures.inc({ credential, reason }, 0);

  return {
    record(request: FastifyRequest, reply: FastifyReply): void {
      const authentication = request.authentication;
      const credential = authentication?.credential ?? 'none';
      requests.inc({
        client: request.client?.name ?? 'anonymous',
        credential,
        method: request.method,
        // The route's pattern (`/service-tokens/:name/rotate`), never the raw URL: one series per route, not per name asked for.
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      });
      if (authentication?.failure) authenticationFailures.inc({ credential, reason: authentication.failure });
    },
  };
}
