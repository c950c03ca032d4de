import fp from 'fastify-plugin';
import { findClient, type ApiClient } from '../clients';
import { HttpError } from '../errors';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated API client; set on every route but the public ones. */
    client: { name: string } | null;
  }
  interface FastifyContextConfig {
    /** Routes reachable without a bearer token (liveness, readiness, docs). */
    public?: boolean;
  }
}

export interface AuthOptions {
  clients: readonly ApiClient[];
}

const PUBLIC_PREFIXES = ['/docs'];

/** Every route requires `Authorization: Bearer <client token>` unless marked public. */
export const authPlugin = fp<AuthOptions>(async (app, options) => {
  app.decorateRequest('client', null);
  app.addHook('onRequest', async (request) => {
    if (request.routeOptions.config?.public || PUBLIC_PREFIXES.some((p) => request.url.startsWith(p))) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
    const client = match ? findClient(options.clients, match[1]!) : undefined;
    if (!client) throw new HttpError(401, 'unauthorized', match ? 'invalid bearer token' : 'missing bearer token: send Authorization: Bearer <token>');
    request.client = { name: client.name };
  });
});
