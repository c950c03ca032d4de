import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notFound } from '../errors';
import { pageQuerySchema, paginate } from '../pagination';
import { isUserScoped, PERMISSION_GROUPS } from '../permission-groups';
import { apiTokenView, type ApiTokenInput } from '../state/api-tokens';
import { TokenResourcesSchema } from '../state/schema';
import type { ApiTokenOwner, RequestIpCondition } from '../state/types';
import { directionSchema, queryBoolean, send, sortBy, type RouteDeps } from './common';

const LIMITS = { defaultPerPage: 20, minPerPage: 5, maxPerPage: 50 };

const ownerParams = z.object({ account_id: z.string().optional() });
const tokenParams = ownerParams.extend({ token_id: z.string() });
const listQuery = pageQuerySchema.extend({
  direction: directionSchema.optional(),
  include_expired: queryBoolean.optional(),
});
const groupQuery = z.object({ name: z.string().optional(), scope: z.string().optional() });

const requestIp = z.object({ in: z.array(z.string()).optional(), not_in: z.array(z.string()).optional() });
const policyInput = z.object({
  effect: z.enum(['allow', 'deny']),
  permission_groups: z.array(z.object({ id: z.string() })),
  resources: TokenResourcesSchema,
});
const createBody = z.object({
  name: z.string().max(120),
  policies: z.array(policyInput),
  not_before: z.string().nullable().optional(),
  expires_on: z.string().nullable().optional(),
  // The 2024 spec and most clients send "request.ip"; the SDK's types say request_ip. Both work.
  condition: z.object({ 'request.ip': requestIp.optional(), request_ip: requestIp.optional() }).optional(),
});
const updateBody = createBody.extend({ status: z.enum(['active', 'disabled', 'expired']).optional() });
const rollBody = z.object({}).nullish();

type CreateBody = z.infer<typeof updateBody>;

function onceDecoded(value: string | undefined): string | undefined {
  if (value === undefined || !value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

function toInput(body: CreateBody): ApiTokenInput {
  const ip: RequestIpCondition | undefined = body.condition?.['request.ip'] ?? body.condition?.request_ip;
  return {
    name: body.name,
    policies: body.policies,
    not_before: body.not_before ?? null,
    expires_on: body.expires_on ?? null,
    requestIp: ip ?? null,
    ...(body.status !== undefined ? { status: body.status } : {}),
  };
}

/**
 * User API tokens (/user/tokens) and account-owned API tokens (/accounts/:id/tokens).
 * PUT is a full replace of name, policies, validity window and condition. Only create and
 * roll return the value. Verify checks the bearer itself, and only for its own kind of token.
 */
export function apiTokenRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { state, operations } = deps;

  const ownerOf = (params: z.infer<typeof ownerParams>): ApiTokenOwner => {
    if (params.account_id === undefined) return { kind: 'user' };
    if (!state.accounts.hasAccount(params.account_id)) throw notFound(`account ${params.account_id}`);
    return { kind: 'account', accountId: params.account_id };
  };
  const view = (id: string, owner: ApiTokenOwner): Record<string, unknown> => {
    const token = state.apiTokens.requireOwned(owner, id);
    return apiTokenView(token, state.apiTokens.validity(token));
  };

  const variants = [
    {
      base: '/user/tokens',
      ids: 'user-api-tokens',
      groupsId: 'permission-groups-list-permission-groups',
      scope: 'user',
      read: ['API Tokens Write', 'API Tokens Read'],
      write: ['API Tokens Write'],
    },
    {
      base: '/accounts/:account_id/tokens',
      ids: 'account-api-tokens',
      groupsId: 'account-api-tokens-list-permission-groups',
      scope: 'account',
      read: ['Account API Tokens Write', 'Account API Tokens Read'],
      write: ['Account API Tokens Write'],
    },
  ] as const;

  for (const { base, ids, groupsId, scope, read, write } of variants) {
    const item = `${base}/:token_id`;

    api.get(
      operations.define('GET', `${base}/verify`, {
        operationId: `${ids}-verify-token`,
        auth: { scope, groups: [], verify: scope === 'user' ? 'user' : 'account' },
      }),
      { schema: { params: ownerParams } },
      async (request, reply) => {
        const token = deps.tokenOf(request);
        return reply.code(200).send({
          success: true,
          errors: [],
          messages: [{ code: 10000, message: 'This API Token is valid and active', type: null }],
          result: {
            id: token.id,
            status: 'active',
            ...(token.expires_on ? { expires_on: token.expires_on } : {}),
            ...(token.not_before ? { not_before: token.not_before } : {}),
          },
        });
      },
    );

    api.get(
      operations.define('GET', `${base}/permission_groups`, { operationId: groupsId, auth: { scope, groups: read } }),
      { schema: { params: ownerParams, querystring: groupQuery } },
      async (request, reply) => {
        ownerOf(request.params);
        // The SDK documents both filters as "must be URL-encoded", so they may arrive encoded once more.
        const name = onceDecoded(request.query.name);
        const wantedScope = onceDecoded(request.query.scope);
        const groups = PERMISSION_GROUPS.filter((g) => scope === 'user' || !isUserScoped(g))
          .filter((g) => name === undefined || g.name.toLowerCase() === name.toLowerCase())
          .filter((g) => wantedScope === undefined || g.scopes.some((s) => s === wantedScope));
        return send(reply, 200, groups);
      },
    );

    api.get(
      operations.define('GET', base, { operationId: `${ids}-list-tokens`, auth: { scope, groups: read } }),
      { schema: { params: ownerParams, querystring: listQuery } },
      async (request, reply) => {
        const owner = ownerOf(request.params);
        const tokens = state.apiTokens
          .list(owner)
          .filter((t) => request.query.include_expired === true || state.apiTokens.validity(t) !== 'expired');
        const sorted = sortBy(tokens, (t) => t.issued_on, request.query.direction);
        const views = sorted.map((t) => apiTokenView(t, state.apiTokens.validity(t)));
        const { result, resultInfo } = paginate(views, request.query, LIMITS);
        return send(reply, 200, result, resultInfo);
      },
    );

    api.post(
      operations.define('POST', base, { operationId: `${ids}-create-token`, auth: { scope, groups: write } }),
      { schema: { params: ownerParams, body: createBody } },
      async (request, reply) => {
        const owner = ownerOf(request.params);
        const { record, value } = state.apiTokens.create(owner, toInput(request.body));
        return send(reply, 200, { ...apiTokenView(record, state.apiTokens.validity(record)), value });
      },
    );

    api.get(
      operations.define('GET', item, { operationId: `${ids}-token-details`, auth: { scope, groups: read } }),
      { schema: { params: tokenParams } },
      async (request, reply) => send(reply, 200, view(request.params.token_id, ownerOf(request.params))),
    );

    api.put(
      operations.define('PUT', item, { operationId: `${ids}-update-token`, auth: { scope, groups: write } }),
      { schema: { params: tokenParams, body: updateBody } },
      async (request, reply) => {
        const owner = ownerOf(request.params);
        const record = state.apiTokens.update(owner, request.params.token_id, toInput(request.body));
        return send(reply, 200, apiTokenView(record, state.apiTokens.validity(record)));
      },
    );

    api.delete(
      operations.define('DELETE', item, { operationId: `${ids}-delete-token`, auth: { scope, groups: write } }),
      { schema: { params: tokenParams } },
      async (request, reply) => {
        state.apiTokens.delete(ownerOf(request.params), request.params.token_id);
        return send(reply, 200, { id: request.params.token_id });
      },
    );

    api.put(
      operations.define('PUT', `${item}/value`, { operationId: `${ids}-roll-token`, auth: { scope, groups: write } }),
      { schema: { params: tokenParams, body: rollBody } },
      async (request, reply) =>
        send(reply, 200, state.apiTokens.roll(ownerOf(request.params), request.params.token_id)),
    );
  }
}
