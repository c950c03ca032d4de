import type { FastifyInstance, FastifyRequest } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import { ipAllowed, parseBearer, tokenGrants, type BearerParse, type ResourceRef } from './auth';
import type { CallCounter } from './calls';
import { CloudflareApiError, CODE } from './errors';
import type { FaultController, FaultDecision } from './faults';
import type { OperationMeta, OperationRegistry, RouteAuth } from './operations';
import { rateLimitHeaders, type RateLimitConfig, type RateLimiter } from './rate-limit';
import type { RateLimitControl } from './rate-limit-control';
import type { SimulatorState } from './state/state';
import type { ApiTokenRecord } from './state/types';

export interface PipelineDeps {
  state: SimulatorState;
  faults: FaultController;
  rateLimiter: RateLimiter;
  rateLimit: RateLimitControl;
  calls: CallCounter;
  operations: OperationRegistry;
  prefix: string;
}

interface RequestContext {
  operationId: string;
  drop: boolean;
  counted: boolean;
  token?: ApiTokenRecord;
}

/**
 * The per-request pipeline of the Cloudflare API routes, in Cloudflare's order as far as it
 * is observable: injected latency, the rate limit (per user, per account-owned token, or per
 * IP without a known token; every request counts, even one that fails later), injected
 * errors, authentication, permissions. Then the route runs; an apply-then-drop fault destroys
 * the socket after the handler has applied its change and before any response byte is
 * written. The rate-limit headers are set on the reply before anything can refuse the
 * request, so every answer of a known route carries them (the error handler keeps them).
 */
export function installApiPipeline(
  app: FastifyInstance,
  deps: PipelineDeps,
): { tokenOf(request: FastifyRequest): ApiTokenRecord } {
  const contexts = new WeakMap<FastifyRequest, RequestContext>();

  app.addHook('onRequest', async (request, reply) => {
    const meta = deps.operations.lookup(request.method, request.routeOptions.url, deps.prefix);
    const context: RequestContext = { operationId: meta?.operationId ?? 'unknown', drop: false, counted: false };
    contexts.set(request, context);
    if (!meta) return;

    const path = request.url.split('?')[0] ?? '';
    const decision = deps.faults.decide({ operationId: meta.operationId, method: request.method, path });
    if (decision.latencyMs > 0) await sleep(decision.latencyMs);

    const bearer = parseBearer(request.headers.authorization);
    const known = bearer.kind === 'ok' ? deps.state.apiTokens.findByValue(bearer.value) : undefined;
    const relative = path.startsWith(deps.prefix) ? path.slice(deps.prefix.length) : path;
    const limit = deps.rateLimit.admit(deps.rateLimit.keyOfRequest(known, request.ip), meta.operationId, {
      method: request.method,
      path: relative,
    });
    const config = deps.rateLimiter.config;
    const headers = rateLimitHeaders(config, limit);
    reply.headers(headers);
    if (!limit.allowed) throw CloudflareApiError.of(429, CODE.rateLimited, RATE_LIMITED_MESSAGE, headers);

    if (decision.error) throw injectedError(decision.error, config);
    context.token = authenticate(deps, request, meta, bearer, known);
    context.drop = decision.drop;
  });

  app.addHook('onSend', async (request, _reply, payload) => {
    const context = contexts.get(request);
    if (context?.drop) {
      context.counted = true;
      deps.calls.record(context.operationId, 'dropped');
      request.raw.socket?.destroy();
    }
    return payload;
  });

  app.addHook('onResponse', async (request, reply) => {
    const context = contexts.get(request);
    if (context && !context.counted) deps.calls.record(context.operationId, reply.statusCode);
  });

  return {
    tokenOf(request: FastifyRequest): ApiTokenRecord {
      const token = contexts.get(request)?.token;
      if (!token) throw new Error('route ran without an authenticated token');
      return token;
    },
  };
}

const RATE_LIMITED_MESSAGE = 'Please wait and consider throttling your request speed';

/**
 * An injected error. A 429 answers as the limiter would have (Retry-After, `Ratelimit` r=0),
 * with the rule's `retryAfter` (1 if unset); with the rate-limit headers off only a
 * `retryAfter` the rule sets explicitly is sent. Other statuses keep the reply's headers.
 */
function injectedError(error: NonNullable<FaultDecision['error']>, config: RateLimitConfig): CloudflareApiError {
  const headers: Record<string, string> =
    error.retryAfter !== undefined ? { 'Retry-After': String(error.retryAfter) } : {};
  if (error.status === 429) {
    if (config.headers) {
      const retryAfter = error.retryAfter ?? 1;
      headers['Retry-After'] = String(retryAfter);
      headers['Ratelimit'] = `"default";r=0;t=${Math.max(1, Math.ceil(retryAfter))}`;
    }
    return CloudflareApiError.of(429, CODE.rateLimited, RATE_LIMITED_MESSAGE, headers);
  }
  const message = error.status >= 500 ? 'Internal server error (simulated fault)' : 'Request failed (simulated fault)';
  return CloudflareApiError.of(
    error.status,
    error.status >= 500 ? CODE.internal : CODE.invalidRequest,
    message,
    headers,
  );
}

function authenticate(
  deps: PipelineDeps,
  request: FastifyRequest,
  meta: OperationMeta,
  bearer: BearerParse,
  token: ApiTokenRecord | undefined,
): ApiTokenRecord {
  const { auth } = meta;
  const isVerify = auth.verify !== undefined;
  if (bearer.kind === 'missing') {
    if (isVerify) throw CloudflareApiError.of(400, CODE.missingAuthorization, 'Missing "Authorization" header');
    if (request.headers['x-auth-key'] !== undefined || request.headers['x-auth-email'] !== undefined) {
      throw CloudflareApiError.of(403, CODE.unknownAuthKey, 'Unknown X-Auth-Key or X-Auth-Email');
    }
    throw CloudflareApiError.of(
      400,
      CODE.missingAuthHeaders,
      'Missing X-Auth-Key, X-Auth-Email or Authorization headers',
    );
  }
  if (bearer.kind === 'malformed') {
    throw new CloudflareApiError(400, [
      {
        code: CODE.invalidRequestHeaders,
        message: 'Invalid request headers',
        error_chain: [{ code: CODE.invalidAuthorizationFormat, message: 'Invalid format for Authorization header' }],
      },
    ]);
  }
  const invalid = (): CloudflareApiError =>
    isVerify
      ? CloudflareApiError.of(401, CODE.invalidApiToken, 'Invalid API Token')
      : CloudflareApiError.of(403, CODE.invalidAccessToken, 'Invalid access token');

  const { apiTokens } = deps.state;
  if (!token || apiTokens.validity(token) !== 'active') throw invalid();
  if (auth.verify !== undefined && token.owner.kind !== auth.verify) throw invalid();
  if (!ipAllowed(token.requestIp, request.ip)) {
    throw CloudflareApiError.of(
      403,
      CODE.invalidAccessToken,
      `Cannot use the access token from location: ${request.ip}`,
    );
  }
  apiTokens.touch(token);
  if (auth.groups.length > 0 && !tokenGrants(token, auth.groups, resourceOf(deps, auth, request.params))) {
    throw CloudflareApiError.of(403, CODE.authenticationError, 'Authentication error');
  }
  return token;
}

function paramText(params: unknown, key: string): string {
  if (typeof params !== 'object' || params === null) return '';
  const value: unknown = Object.getOwnPropertyDescriptor(params, key)?.value;
  return typeof value === 'string' ? value : '';
}

function resourceOf(deps: PipelineDeps, auth: RouteAuth, params: unknown): ResourceRef {
  const text = (key: string): string => paramText(params, key);
  switch (auth.scope) {
    case 'user':
      return { kind: 'user', userId: deps.state.user.id };
    case 'account':
      return { kind: 'account', accountId: text('account_id') };
    case 'zone': {
      const zoneId = text('zone_id');
      const accountId = deps.state.accounts.zone(zoneId)?.accountId;
      return accountId === undefined ? { kind: 'zone', zoneId } : { kind: 'zone', zoneId, accountId };
    }
  }
}
