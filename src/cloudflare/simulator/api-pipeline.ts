import type { FastifyInstance, FastifyRequest } from 'fastify';
import { setTimeout as sleep } from 'node:timers/promises';
import { ipAllowed, parseBearer, tokenGrants, type BearerParse, type ResourceRef } from './auth';
import type { CallCounter } from './calls';
import { CloudflareApiError, CODE } from './errors';
import type { FaultController, FaultDecision } from './faults';
import { fingerprint } from './ids';
import type { OperationMeta, OperationRegistry, RouteAuth } from './operations';
import type { RateLimiter } from './rate-limit';
import type { SimulatorState } from './state/state';
import type { ApiTokenRecord } from './state/types';

export interface PipelineDeps {
  state: SimulatorState;
  faults: FaultController;
  rateLimiter: RateLimiter;
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
 * is observable: injected latency, the per-token rate limit (every request counts, even
 * one that fails later), injected errors, authentication, permissions. Then the route runs;
 * an apply-then-drop fault destroys the socket after the handler has applied its change
 * and before any response byte is written.
 */
export function installApiPipeline(app: FastifyInstance, deps: PipelineDeps): { tokenOf(request: FastifyRequest): ApiTokenRecord } {
  const contexts = new WeakMap<FastifyRequest, RequestContext>();

  app.addHook('onRequest', async (request, reply) => {
    const meta = deps.operations.lookup(request.method, request.routeOptions.url, deps.prefix);
    const context: RequestContext = { operationId: meta?.operationId ?? 'unknown', drop: false, counted: false };
    contexts.set(request, context);
    if (!meta) return;

    const decision = deps.faults.decide({ operationId: meta.operationId, method: request.method, path: request.url.split('?')[0] ?? '' });
    if (decision.latencyMs > 0) await sleep(decision.latencyMs);

    const bearer = parseBearer(request.headers.authorization);
    const limit = deps.rateLimiter.take(bearer.kind === 'ok' ? `token:${fingerprint(bearer.value)}` : `ip:${request.ip}`);
    deps.calls.arrived({ operationId: meta.operationId, at: deps.state.clock.now(), rateLimited: !limit.allowed });
    const { limit: quota, windowSeconds } = deps.rateLimiter.config;
    reply.header('Ratelimit-Policy', `"default";q=${quota};w=${windowSeconds}`);
    if (!limit.allowed) {
      throw CloudflareApiError.of(429, CODE.rateLimited, 'Please wait and consider throttling your request speed', {
        'Retry-After': String(limit.retryAfterSeconds),
        Ratelimit: `"default";r=0;t=${limit.retryAfterSeconds}`,
      });
    }
    reply.header('Ratelimit', `"default";r=${limit.remaining};t=${limit.resetSeconds}`);

    if (decision.error) throw injectedError(decision.error);
    context.token = authenticate(deps, request, meta, bearer);
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

function injectedError(error: NonNullable<FaultDecision['error']>): CloudflareApiError {
  const headers: Record<string, string> = error.retryAfter !== undefined ? { 'Retry-After': String(error.retryAfter) } : {};
  if (error.status === 429) {
    return CloudflareApiError.of(429, CODE.rateLimited, 'Please wait and consider throttling your request speed', headers);
  }
  const message = error.status >= 500 ? 'Internal server error (simulated fault)' : 'Request failed (simulated fault)';
  return CloudflareApiError.of(error.status, error.status >= 500 ? CODE.internal : CODE.invalidRequest, message, headers);
}

function authenticate(deps: PipelineDeps, request: FastifyRequest, meta: OperationMeta, bearer: BearerParse): ApiTokenRecord {
  const { auth } = meta;
  const isVerify = auth.verify !== undefined;
  if (bearer.kind === 'missing') {
    if (isVerify) throw CloudflareApiError.of(400, CODE.missingAuthorization, 'Missing "Authorization" header');
    if (request.headers['x-auth-key'] !== undefined || request.headers['x-auth-email'] !== undefined) {
      throw CloudflareApiError.of(403, CODE.unknownAuthKey, 'Unknown X-Auth-Key or X-Auth-Email');
    }
    throw CloudflareApiError.of(400, CODE.missingAuthHeaders, 'Missing X-Auth-Key, X-Auth-Email or Authorization headers');
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
  const token = apiTokens.findByValue(bearer.value);
  if (!token || apiTokens.validity(token) !== 'active') throw invalid();
  if (auth.verify !== undefined && token.owner.kind !== auth.verify) throw invalid();
  if (!ipAllowed(token.requestIp, request.ip)) {
    throw CloudflareApiError.of(403, CODE.invalidAccessToken, `Cannot use the access token from location: ${request.ip}`);
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
