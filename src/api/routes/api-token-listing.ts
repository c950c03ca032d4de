import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { listApiTokens, type ApiTokenListingDeps } from '../api-token-listing';
import { apiTokenListQuery, apiTokenListResponse } from '../api-token-schemas';
import { authErrors, backendErrors, inputErrors } from '../errors';

/** `GET /api-tokens`: the inventory's API tokens as the dashboard shows them (their rotation: routes/api-token-rotation.ts). */
export const apiTokenListingRoutes: FastifyPluginAsyncZod<ApiTokenListingDeps> = async (app, deps) => {
  app.get(
    '/api-tokens',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['api-tokens'],
        summary: 'API tokens of the inventory with rotation settings, last recorded health and last rotation',
        description:
          'Answers from the inventory and Postgres only: the newest recorded health check (none is started) and the rotation history. Never a token value or fingerprint.',
        querystring: apiTokenListQuery,
        response: { 200: apiTokenListResponse, ...inputErrors, ...authErrors, ...backendErrors },
      },
    },
    async (request) => {
      const apiTokens = await listApiTokens(deps, { accountId: request.query.account_id });
      return { success: true as const, data: { api_tokens: apiTokens, count: apiTokens.length } };
    },
  );
};
