import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { badRequest } from '../errors';
import { workerSecretView, type ScriptRef } from '../state/workers';
import { queryBoolean, send, type RouteDeps } from './common';

const READ = ['Workers Scripts Write', 'Workers Scripts Read'];
const WRITE = ['Workers Scripts Write'];

const scriptParams = z.object({
  account_id: z.string(),
  script_name: z.string(),
  dispatch_namespace: z.string().optional(),
});
const secretParams = scriptParams.extend({ secret_name: z.string() });
const secretQuery = z.object({ url_encoded: queryBoolean.optional() });

const secretText = z.object({ name: z.string().min(1), type: z.literal('secret_text'), text: z.string() });
const secretKey = z.object({
  name: z.string().min(1),
  type: z.literal('secret_key'),
  format: z.enum(['raw', 'pkcs8', 'spki', 'jwk']),
  algorithm: z.record(z.string(), z.unknown()),
  usages: z.array(z.enum(['encrypt', 'decrypt', 'sign', 'verify', 'deriveKey', 'deriveBits', 'wrapKey', 'unwrapKey'])),
  key_base64: z.string().optional(),
  key_jwk: z.record(z.string(), z.unknown()).optional(),
});
const secretInput = z.discriminatedUnion('type', [secretText, secretKey]);
const bulkBody = z.object({
  secrets: z.record(z.string(), secretInput.nullable()).optional(),
  version_tags: z.record(z.string(), z.unknown()).optional(),
});

/** Secret bindings of Workers scripts and of Workers for Platforms dispatch-namespace scripts. */
export function workerSecretRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { state, operations } = deps;

  const refOf = (params: z.infer<typeof scriptParams>): ScriptRef => ({
    accountId: params.account_id,
    namespace: params.dispatch_namespace ?? null,
    name: params.script_name,
  });
  /** With url_encoded=true the caller percent-encoded the name itself, so decode once more. */
  const secretName = (name: string, urlEncoded: boolean | undefined): string => {
    if (!urlEncoded) return name;
    try {
      return decodeURIComponent(name);
    } catch {
      throw badRequest('secret_name: not valid percent-encoding');
    }
  };

  const variants = [
    { base: '/accounts/:account_id/workers/scripts/:script_name', ids: 'worker', plural: 'secret' },
    {
      base: '/accounts/:account_id/workers/dispatch/namespaces/:dispatch_namespace/scripts/:script_name',
      ids: 'namespace-worker',
      plural: 'secrets',
    },
  ] as const;

  for (const { base, ids, plural } of variants) {
    api.get(
      operations.define('GET', `${base}/secrets`, {
        operationId: `${ids}-list-script-secrets`,
        auth: { scope: 'account', groups: READ },
      }),
      { schema: { params: scriptParams } },
      async (request, reply) =>
        send(reply, 200, state.workers.listSecrets(refOf(request.params)).map(workerSecretView)),
    );

    api.put(
      operations.define('PUT', `${base}/secrets`, {
        // The contract names the two PUTs differently: worker-put-script-secret, namespace-worker-put-script-secrets.
        operationId: `${ids}-put-script-${plural}`,
        auth: { scope: 'account', groups: WRITE },
      }),
      { schema: { params: scriptParams, body: secretInput } },
      async (request, reply) =>
        send(reply, 200, workerSecretView(state.workers.putSecret(refOf(request.params), request.body))),
    );

    api.patch(
      operations.define('PATCH', `${base}/secrets-bulk`, {
        operationId: `${ids}-patch-script-secrets-bulk`,
        auth: { scope: 'account', groups: WRITE },
      }),
      { schema: { params: scriptParams, body: bulkBody } },
      async (request, reply) => {
        const secrets = state.workers.patchSecrets(refOf(request.params), request.body.secrets ?? {});
        return send(reply, 200, Object.fromEntries(secrets.map((s) => [s.name, workerSecretView(s)])));
      },
    );

    api.get(
      operations.define('GET', `${base}/secrets/:secret_name`, {
        operationId: ids === 'worker' ? 'worker-get-script-secret' : 'namespace-worker-get-script-secrets',
        auth: { scope: 'account', groups: READ },
      }),
      { schema: { params: secretParams, querystring: secretQuery } },
      async (request, reply) => {
        const name = secretName(request.params.secret_name, request.query.url_encoded);
        return send(reply, 200, workerSecretView(state.workers.requireSecret(refOf(request.params), name)));
      },
    );

    api.delete(
      operations.define('DELETE', `${base}/secrets/:secret_name`, {
        operationId: `${ids}-delete-script-secret`,
        auth: { scope: 'account', groups: WRITE },
      }),
      { schema: { params: secretParams, querystring: secretQuery } },
      async (request, reply) => {
        state.workers.deleteSecret(
          refOf(request.params),
          secretName(request.params.secret_name, request.query.url_encoded),
        );
        return send(reply, 200, null);
      },
    );
  }
}
