import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notFound } from '../errors';
import { pageQuerySchema, paginate } from '../pagination';
import { serviceTokenView } from '../state/service-tokens';
import type { ServiceTokenScope } from '../state/types';
import { send, sortBy, type RouteDeps } from './common';

const READ = ['Access: Service Tokens Write', 'Access: Service Tokens Read'];
const WRITE = ['Access: Service Tokens Write'];
const LIMITS = { defaultPerPage: 20, minPerPage: 5, maxPerPage: 1000 };

const scopeParams = z.object({ account_id: z.string().optional(), zone_id: z.string().optional() });
const tokenParams = scopeParams.extend({ service_token_id: z.string() });
const listQuery = pageQuerySchema.extend({ name: z.string().optional(), search: z.string().optional() });
const createBody = z.object({
  name: z.string(),
  duration: z.string().optional(),
  client_secret_version: z.number().optional(),
  previous_client_secret_expires_at: z.string().optional(),
  enabled: z.boolean().optional(),
});
const updateBody = createBody.partial();
const rotateBody = z.object({ previous_client_secret_expires_at: z.string().optional() }).nullish();

/** Account- and zone-level Access service tokens; refresh and rotate exist at account level only. */
export function serviceTokenRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { state, operations } = deps;

  const scopeOf = (params: z.infer<typeof scopeParams>): ServiceTokenScope => {
    if (params.account_id !== undefined) {
      if (!state.accounts.hasAccount(params.account_id)) throw notFound(`account ${params.account_id}`);
      return { kind: 'account', accountId: params.account_id };
    }
    const zoneId = params.zone_id ?? '';
    state.accounts.requireZone(zoneId);
    return { kind: 'zone', zoneId };
  };

  const variants = [
    { base: '/accounts/:account_id/access/service_tokens', ids: 'access-service-tokens', scope: 'account' },
    { base: '/zones/:zone_id/access/service_tokens', ids: 'zone-level-access-service-tokens', scope: 'zone' },
  ] as const;

  for (const { base, ids, scope } of variants) {
    const item = `${base}/:service_token_id`;

    api.get(
      operations.define('GET', base, { operationId: `${ids}-list-service-tokens`, auth: { scope, groups: READ } }),
      { schema: { params: scopeParams, querystring: listQuery } },
      async (request, reply) => {
        const { name, search } = request.query;
        const tokens = state.serviceTokens
          .list(scopeOf(request.params))
          .filter((t) => name === undefined || t.name === name)
          .filter((t) => search === undefined || t.name.includes(search) || t.client_id.includes(search));
        const { result, resultInfo } = paginate(
          sortBy(tokens, (t) => t.created_at).map(serviceTokenView),
          request.query,
          LIMITS,
        );
        return send(reply, 200, result, resultInfo);
      },
    );

    api.post(
      operations.define('POST', base, { operationId: `${ids}-create-a-service-token`, auth: { scope, groups: WRITE } }),
      { schema: { params: scopeParams, body: createBody } },
      async (request, reply) => {
        const { name, duration, enabled } = request.body;
        const { record, clientSecret } = state.serviceTokens.create(scopeOf(request.params), {
          name,
          ...(duration !== undefined ? { duration } : {}),
          ...(enabled !== undefined ? { enabled } : {}),
        });
        return send(reply, 201, { ...serviceTokenView(record), client_secret: clientSecret });
      },
    );

    api.get(
      operations.define('GET', item, { operationId: `${ids}-get-a-service-token`, auth: { scope, groups: READ } }),
      { schema: { params: tokenParams } },
      async (request, reply) =>
        send(
          reply,
          200,
          serviceTokenView(
            state.serviceTokens.requireInScope(scopeOf(request.params), request.params.service_token_id),
          ),
        ),
    );

    api.put(
      operations.define('PUT', item, { operationId: `${ids}-update-a-service-token`, auth: { scope, groups: WRITE } }),
      { schema: { params: tokenParams, body: updateBody } },
      async (request, reply) => {
        const { name, duration, enabled, client_secret_version, previous_client_secret_expires_at } = request.body;
        const record = state.serviceTokens.update(scopeOf(request.params), request.params.service_token_id, {
          ...(name !== undefined ? { name } : {}),
          ...(duration !== undefined ? { duration } : {}),
          ...(enabled !== undefined ? { enabled } : {}),
          ...(client_secret_version !== undefined ? { client_secret_version } : {}),
          ...(previous_client_secret_expires_at !== undefined ? { previous_client_secret_expires_at } : {}),
        });
        return send(reply, 200, serviceTokenView(record));
      },
    );

    api.delete(
      operations.define('DELETE', item, {
        operationId: `${ids}-delete-a-service-token`,
        auth: { scope, groups: WRITE },
      }),
      { schema: { params: tokenParams } },
      async (request, reply) =>
        send(
          reply,
          200,
          serviceTokenView(state.serviceTokens.delete(scopeOf(request.params), request.params.service_token_id)),
        ),
    );
  }

  const accountItem = '/accounts/:account_id/access/service_tokens/:service_token_id';

  api.post(
    operations.define('POST', `${accountItem}/refresh`, {
      operationId: 'access-service-tokens-refresh-a-service-token',
      auth: { scope: 'account', groups: WRITE },
    }),
    { schema: { params: tokenParams } },
    async (request, reply) =>
      send(
        reply,
        200,
        serviceTokenView(state.serviceTokens.refresh(scopeOf(request.params), request.params.service_token_id)),
      ),
  );

  api.post(
    operations.define('POST', `${accountItem}/rotate`, {
      operationId: 'access-service-tokens-rotate-a-service-token',
      auth: { scope: 'account', groups: WRITE },
    }),
    { schema: { params: tokenParams, body: rotateBody } },
    async (request, reply) => {
      const { record, clientSecret } = state.serviceTokens.rotate(
        scopeOf(request.params),
        request.params.service_token_id,
        request.body?.previous_client_secret_expires_at,
      );
      return send(reply, 200, { ...serviceTokenView(record), client_secret: clientSecret });
    },
  );
}
