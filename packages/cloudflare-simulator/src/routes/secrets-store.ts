import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { pageQuerySchema, paginate } from '../pagination';
import { secretsStoreSecretView, secretsStoreView } from '../state/secrets-store';
import type { SecretsStoreSecretRecord } from '../state/types';
import { directionSchema, queryBoolean, queryList, send, sortBy, type RouteDeps } from './common';

const READ = ['Secrets Store Write', 'Secrets Store Read'];
const WRITE = ['Secrets Store Write'];
const LIMITS = { defaultPerPage: 20, minPerPage: 1, maxPerPage: 100 };

const scope = z.enum(['workers', 'ai_gateway', 'dex', 'access', 'containers', 'websearch']);
const accountParams = z.object({ account_id: z.string() });
const storeParams = accountParams.extend({ store_id: z.string() });
const secretParams = storeParams.extend({ secret_id: z.string() });
const storeListQuery = pageQuerySchema.extend({
  direction: directionSchema.optional(),
  order: z.enum(['name', 'created', 'modified']).optional(),
});
const secretListQuery = pageQuerySchema.extend({
  direction: directionSchema.optional(),
  order: z.enum(['name', 'comment', 'created', 'modified', 'status']).optional(),
  search: z.string().optional(),
  scopes: queryList.optional(),
});
const createItem = z.object({
  name: z.string(),
  value: z.string().max(65536),
  scopes: z.array(scope),
  comment: z.string().optional(),
});
const patchBody = z.object({
  value: z.string().max(65536).optional(),
  scopes: z.array(scope).optional(),
  comment: z.string().optional(),
});
const duplicateBody = z.object({ name: z.string(), scopes: z.array(scope), comment: z.string().optional() });
const bulkDeleteBody = z.object({ ids: z.array(z.string()).min(1) });

/** Secrets Store: quota, stores, secrets (create in bulk, patch, duplicate, delete, bulk delete). */
export function secretsStoreRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { state, operations } = deps;
  const repo = state.secretsStore;
  const base = '/accounts/:account_id/secrets_store';
  const define = (method: string, url: string, operationId: string, groups: readonly string[]): string =>
    operations.define(method, url, { operationId, auth: { scope: 'account', groups } });

  api.get(
    define('GET', `${base}/quota`, 'secrets-store-quota', READ),
    { schema: { params: accountParams } },
    async (request, reply) => send(reply, 200, { secrets: repo.quota(request.params.account_id) }),
  );

  api.get(
    define('GET', `${base}/stores`, 'secrets-store-list', READ),
    { schema: { params: accountParams, querystring: storeListQuery } },
    async (request, reply) => {
      state.accounts.requireAccount(request.params.account_id);
      const { order = 'created', direction } = request.query;
      const stores = sortBy(repo.listStores(request.params.account_id), (s) => s[order], direction);
      const { result, resultInfo } = paginate(stores.map(secretsStoreView), request.query, LIMITS);
      return send(reply, 200, result, resultInfo);
    },
  );

  api.post(
    define('POST', `${base}/stores`, 'secrets-store-create', WRITE),
    { schema: { params: accountParams, body: z.object({ name: z.string() }) } },
    async (request, reply) =>
      send(reply, 200, secretsStoreView(repo.createStore(request.params.account_id, request.body.name))),
  );

  api.get(
    define('GET', `${base}/stores/:store_id`, 'secrets-store-get-store-by-id', READ),
    { schema: { params: storeParams } },
    async (request, reply) =>
      send(reply, 200, secretsStoreView(repo.requireStore(request.params.account_id, request.params.store_id))),
  );

  api.delete(
    define('DELETE', `${base}/stores/:store_id`, 'secrets-store-delete-by-id', WRITE),
    { schema: { params: storeParams, querystring: z.object({ force: queryBoolean.optional() }) } },
    async (request, reply) => {
      repo.deleteStore(request.params.account_id, request.params.store_id, request.query.force ?? false);
      return send(reply, 200, null);
    },
  );

  const secrets = `${base}/stores/:store_id/secrets`;

  api.get(
    define('GET', secrets, 'secrets-store-secrets-list', READ),
    { schema: { params: storeParams, querystring: secretListQuery } },
    async (request, reply) => {
      const { search, scopes, order = 'created', direction } = request.query;
      const matching = repo
        .listSecrets(request.params.account_id, request.params.store_id)
        .filter((s) => search === undefined || s.name.includes(search) || s.comment.includes(search))
        .filter((s) => scopes === undefined || scopes.every((wanted) => s.scopes.includes(wanted)));
      const sorted = sortBy(matching, (s: SecretsStoreSecretRecord) => s[order], direction);
      const { result, resultInfo } = paginate(sorted.map(secretsStoreSecretView), request.query, LIMITS);
      return send(reply, 200, result, resultInfo);
    },
  );

  api.post(
    define('POST', secrets, 'secrets-store-secret-create', WRITE),
    { schema: { params: storeParams, body: z.array(createItem).min(1) } },
    async (request, reply) =>
      send(
        reply,
        200,
        repo
          .createSecrets(request.params.account_id, request.params.store_id, request.body)
          .map(secretsStoreSecretView),
      ),
  );

  api.delete(
    define('DELETE', secrets, 'secrets-store-delete-bulk', WRITE),
    { schema: { params: storeParams, body: bulkDeleteBody } },
    async (request, reply) => {
      repo.bulkDelete(request.params.account_id, request.params.store_id, request.body.ids);
      return send(reply, 202, null);
    },
  );

  api.get(
    define('GET', `${secrets}/:secret_id`, 'secrets-store-get-by-id', READ),
    { schema: { params: secretParams } },
    async (request, reply) => {
      const { account_id, store_id, secret_id } = request.params;
      return send(reply, 200, secretsStoreSecretView(repo.requireSecret(account_id, store_id, secret_id)));
    },
  );

  api.patch(
    define('PATCH', `${secrets}/:secret_id`, 'secrets-store-patch-by-id', WRITE),
    { schema: { params: secretParams, body: patchBody } },
    async (request, reply) => {
      const { account_id, store_id, secret_id } = request.params;
      const { value, scopes, comment } = request.body;
      const patched = repo.patchSecret(account_id, store_id, secret_id, {
        ...(value !== undefined ? { value } : {}),
        ...(scopes !== undefined ? { scopes } : {}),
        ...(comment !== undefined ? { comment } : {}),
      });
      return send(reply, 200, secretsStoreSecretView(patched));
    },
  );

  api.delete(
    define('DELETE', `${secrets}/:secret_id`, 'secrets-store-secret-delete-by-id', WRITE),
    { schema: { params: secretParams } },
    async (request, reply) => {
      const { account_id, store_id, secret_id } = request.params;
      repo.deleteSecret(account_id, store_id, secret_id);
      return send(reply, 202, null);
    },
  );

  api.post(
    define('POST', `${secrets}/:secret_id/duplicate`, 'secrets-store-duplicate-by-id', WRITE),
    { schema: { params: secretParams, body: duplicateBody } },
    async (request, reply) => {
      const { account_id, store_id, secret_id } = request.params;
      const { name, scopes, comment } = request.body;
      const copy = repo.duplicate(account_id, store_id, secret_id, {
        name,
        scopes,
        ...(comment !== undefined ? { comment } : {}),
      });
      return send(reply, 200, secretsStoreSecretView(copy));
    },
  );
}
