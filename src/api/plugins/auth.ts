import rateLimit from '@fastify/rate-limit';
import fp from 'fastify-plugin';
import { createAuthFailureCounter, type AuthFailureLimit } from '../auth-failures';
import { allows, findClient, type ApiClient, type Scope } from '../clients';
import { HttpError } from '../errors';
import type { VerifyUiIdentity } from '../ui-identity';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated API client; set on every route but the public ones. */
    client: { name: string } | null;
    /** Throws 403 unless the client holds `scope` (for choices made inside a handler). */
    requireScope(scope: Scope): void;
    /** What the request presented and, when it was refused, why; null on public routes. Read by /metrics. */
    authentication: Authentication | null;
  }
  interface FastifyContextConfig {
    /** Routes reachable without credentials (liveness, readiness, docs, the dashboard shell). */
    public?: boolean;
    /** What a client must be allowed to do to call the route; every non-public route has one. */
    scope?: Scope;
    /** The Temporal UI may call it with its user's login instead of a client token (the codec). */
    uiIdentity?: boolean;
  }
}

export interface AuthOptions {
  clients: readonly ApiClient[];
  /** For clients without a limit of their own. */
  defaultRateLimit: { max: number; perSeconds: number };
  /** Failed authentications per source address before it gets 429s. */
  authFailureLimit: AuthFailureLimit;
  /** Verifies the Temporal UI user's Access or OIDC token on `uiIdentity` routes; null: not configured. */
  uiIdentity?: VerifyUiIdentity | null;
}

/** The client name a verified Temporal UI user acts as: one rate limit, one metrics label. */
export const TEMPORAL_UI_CLIENT = 'temporal-ui';

export interface Authentication {
  credential: 'bearer' | 'cf-access' | 'none';
  /** `throttled`: the source address was over its limit of failed authentications, so nothing was compared. */
  failure: 'missing' | 'invalid' | 'throttled' | null;
}

const PUBLIC_PREFIXES = ['/docs'];

/**
 * Every route requires a client: `Authorization: Bearer <token>`, or Cloudflare Access
 * service-token headers. Then the route's scope, then the client's rate limit (per client,
 * so one noisy caller cannot starve the others). Failed authentications are limited per
 * source address before any credential is compared (see auth-failures.ts).
 */
export const authPlugin = fp<AuthOptions>(async (app, options) => {
  const byName = new Map(options.clients.map((client) => [client.name, client]));
  const failures = createAuthFailureCounter(options.authFailureLimit);
  const limitOf = (name: string | undefined) => (name && byName.get(name)?.rateLimit) || options.defaultRateLimit;
  app.decorateRequest('client', null);
  app.decorateRequest('authentication', null);
  app.decorateRequest('requireScope', function requireScope(this: { client: { name: string } | null }, scope: Scope) {
    const client = this.client && byName.get(this.client.name);
    if (!client || !allows(client, scope))
      throw new HttpError(403, 'forbidden', `client "${this.client?.name ?? 'anonymous'}" may not ${scope}`);
  });

  // A route without a scope would be open to every client: refuse to build such an app.
  app.addHook('onRoute', (route) => {
    const config = route.config as { public?: boolean; scope?: Scope } | undefined;
    if (
      !config?.public &&
      !config?.scope &&
      !PUBLIC_PREFIXES.some((p) => route.url.startsWith(p)) &&
      route.method !== 'HEAD' &&
      route.method !== 'OPTIONS'
    ) {
      throw new Error(`route ${String(route.method)} ${route.url} declares neither config.public nor config.scope`);
    }
  });

  app.addHook('onRequest', async (request, reply) => {
    const config = request.routeOptions.config;
    if (config?.public || PUBLIC_PREFIXES.some((p) => request.url.startsWith(p)) || request.method === 'OPTIONS')
      return;
    const header = request.headers.authorization ?? '';
    const bearer = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1];
    const accessClientId = request.headers['cf-access-client-id'];
    const accessClientSecret = request.headers['cf-access-client-secret'];
    const credential = bearer !== undefined ? 'bearer' : accessClientId !== undefined ? 'cf-access' : 'none';
    const wait = failures.retryAfterSeconds(request.ip);
    if (wait > 0) {
      request.authentication = { credential, failure: 'throttled' };
      reply.header('retry-after', String(wait));
      throw new HttpError(
        429,
        'rate_limited',
        `too many failed authentications from this address; try again in ${wait} s`,
      );
    }
    const client = findClient(options.clients, {
      bearer,
      accessClientId: typeof accessClientId === 'string' ? accessClientId : undefined,
      accessClientSecret: typeof accessClientSecret === 'string' ? accessClientSecret : undefined,
    });
    if (!client && config?.uiIdentity && options.uiIdentity) {
      const identity = await options.uiIdentity(request).catch((error: unknown) => {
        request.log.warn({ err: error }, 'the Temporal UI login could not be checked');
        throw new HttpError(
          503,
          'identity_provider_unavailable',
          'the identity provider could not be reached; try again',
        );
      });
      if (identity) {
        request.log.debug({ subject: identity.subject }, 'Temporal UI user');
        request.client = { name: TEMPORAL_UI_CLIENT };
        request.authentication = { credential: identity.via, failure: null };
        return;
      }
    }
    if (!client) {
      failures.recordFailure(request.ip);
      const presented = credential !== 'none';
      request.authentication = { credential, failure: presented ? 'invalid' : 'missing' };
      throw new HttpError(
        401,
        'unauthorized',
        presented
          ? 'invalid credentials'
          : 'missing credentials: send Authorization: Bearer <token> (or CF-Access-Client-Id and CF-Access-Client-Secret)',
      );
    }
    request.client = { name: client.name };
    request.authentication = { credential: client.access ? 'cf-access' : 'bearer', failure: null };
    if (config?.scope) request.requireScope(config.scope);
  });

  await app.register(rateLimit, {
    global: true,
    hook: 'preHandler',
    keyGenerator: (request) => request.client?.name ?? request.ip,
    max: (request) => limitOf(request.client?.name).max,
    timeWindow: (request) => limitOf(request.client?.name).perSeconds * 1000,
    allowList: (request) => Boolean(request.routeOptions.config?.public),
    errorResponseBuilder: (_request, context) =>
      new HttpError(429, 'rate_limited', `rate limit of ${context.max} requests per ${context.after} exceeded`),
  });
});
