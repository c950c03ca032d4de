import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { pageQuerySchema, paginate } from '../pagination';
import type { AccessPolicyInput } from '../state/access';
import { accessAppView, accessPolicyView } from '../state/access-views';
import { queryBoolean, send, sortBy, type RouteDeps } from './common';

const READ = ['Access: Apps and Policies Write', 'Access: Apps and Policies Read'];
const WRITE = ['Access: Apps and Policies Write'];

const rule = z.record(z.string(), z.unknown());
const policyBody = z.object({
  name: z.string(),
  decision: z.enum(['allow', 'deny', 'non_identity', 'bypass']),
  include: z.array(rule),
  exclude: z.array(rule).optional(),
  require: z.array(rule).optional(),
  session_duration: z.string().nullable().optional(),
  approval_groups: z.array(z.record(z.string(), z.unknown())).optional(),
  approval_required: z.boolean().optional(),
  isolation_required: z.boolean().optional(),
  purpose_justification_prompt: z.string().optional(),
  purpose_justification_required: z.boolean().optional(),
});
const appPolicyBody = policyBody.extend({ precedence: z.number().int().optional() });

const accountParams = z.object({ account_id: z.string() });
const policyParams = accountParams.extend({ policy_id: z.string() });
const appParams = accountParams.extend({ app_id: z.string() });
const appPolicyParams = appParams.extend({ policy_id: z.string() });
const appsQuery = pageQuerySchema.extend({
  name: z.string().optional(),
  domain: z.string().optional(),
  aud: z.string().optional(),
  search: z.string().optional(),
  exact: queryBoolean.optional(),
  target_attributes: z.string().optional(),
});

function toInput(body: z.infer<typeof policyBody>): AccessPolicyInput {
  const { name, decision, include, exclude, require, session_duration, ...settings } = body;
  return {
    name,
    decision,
    include,
    ...(exclude !== undefined ? { exclude } : {}),
    ...(require !== undefined ? { require } : {}),
    ...(session_duration ? { session_duration } : {}),
    extra: Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)),
  };
}

/**
 * Access applications and policies, enough to find every policy that names a service
 * token and to add or remove it: reusable policies (CRUD), app-scoped policies (list, get,
 * update) and applications (list, get).
 */
export function accessRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { state, operations } = deps;
  const repo = state.access;
  const define = (method: string, url: string, operationId: string, groups: readonly string[]): string =>
    operations.define(method, url, { operationId, auth: { scope: 'account', groups } });
  const reusableView = (policyId: string, accountId: string): Record<string, unknown> =>
    accessPolicyView(repo.requireReusable(accountId, policyId), { appCount: repo.appCount(policyId) });

  const policies = '/accounts/:account_id/access/policies';

  api.get(
    define('GET', policies, 'access-policies-list-access-reusable-policies', READ),
    { schema: { params: accountParams, querystring: pageQuerySchema } },
    async (request, reply) => {
      state.accounts.requireAccount(request.params.account_id);
      const list = sortBy(repo.listReusable(request.params.account_id), (p) => p.created_at);
      const views = list.map((p) => accessPolicyView(p, { appCount: repo.appCount(p.id) }));
      const { result, resultInfo } = paginate(views, request.query, {
        defaultPerPage: 100,
        minPerPage: 1,
        maxPerPage: 1000,
      });
      return send(reply, 200, result, resultInfo);
    },
  );

  api.post(
    define('POST', policies, 'access-policies-create-an-access-reusable-policy', WRITE),
    { schema: { params: accountParams, body: policyBody } },
    async (request, reply) => {
      const policy = repo.createReusablePolicy(request.params.account_id, toInput(request.body));
      return send(reply, 201, accessPolicyView(policy, { appCount: 0 }));
    },
  );

  api.get(
    define('GET', `${policies}/:policy_id`, 'access-policies-get-an-access-reusable-policy', READ),
    { schema: { params: policyParams } },
    async (request, reply) => send(reply, 200, reusableView(request.params.policy_id, request.params.account_id)),
  );

  api.put(
    define('PUT', `${policies}/:policy_id`, 'access-policies-update-an-access-reusable-policy', WRITE),
    { schema: { params: policyParams, body: policyBody } },
    async (request, reply) => {
      const { account_id, policy_id } = request.params;
      repo.updateReusable(account_id, policy_id, toInput(request.body));
      return send(reply, 200, reusableView(policy_id, account_id));
    },
  );

  api.delete(
    define('DELETE', `${policies}/:policy_id`, 'access-policies-delete-an-access-reusable-policy', WRITE),
    { schema: { params: policyParams } },
    async (request, reply) => {
      repo.deleteReusable(request.params.account_id, request.params.policy_id);
      return send(reply, 202, { id: request.params.policy_id });
    },
  );

  const apps = '/accounts/:account_id/access/apps';

  api.get(
    define('GET', apps, 'access-applications-list-access-applications', ['Access: Apps and Policies Revoke', ...READ]),
    { schema: { params: accountParams, querystring: appsQuery } },
    async (request, reply) => {
      state.accounts.requireAccount(request.params.account_id);
      const { name, domain, aud, search, exact } = request.query;
      const like = (value: string, wanted: string | undefined): boolean =>
        wanted === undefined || (exact ? value === wanted : value.toLowerCase().includes(wanted.toLowerCase()));
      const list = repo
        .listApps(request.params.account_id)
        .filter((a) => like(a.name, name) && like(a.domain, domain) && (aud === undefined || a.aud === aud))
        .filter((a) => search === undefined || like(a.name, search) || like(a.domain, search));
      const views = sortBy(list, (a) => a.created_at).map((a) => accessAppView(a, repo.appPolicies(a)));
      const { result, resultInfo } = paginate(views, request.query, {
        defaultPerPage: 25,
        minPerPage: 1,
        maxPerPage: 1000,
      });
      return send(reply, 200, result, resultInfo);
    },
  );

  api.get(
    define('GET', `${apps}/:app_id`, 'access-applications-get-an-access-application', READ),
    { schema: { params: appParams } },
    async (request, reply) => {
      const found = repo.requireApp(request.params.account_id, request.params.app_id);
      return send(reply, 200, accessAppView(found, repo.appPolicies(found)));
    },
  );

  api.get(
    define('GET', `${apps}/:app_id/policies`, 'access-policies-list-access-app-policies', READ),
    { schema: { params: appParams, querystring: pageQuerySchema } },
    async (request, reply) => {
      const found = repo.requireApp(request.params.account_id, request.params.app_id);
      const views = repo.appPolicies(found).map((e) =>
        accessPolicyView(e.policy, {
          precedence: e.precedence,
          ...(e.policy.appId === null ? { appCount: repo.appCount(e.policy.id) } : {}),
        }),
      );
      const { result, resultInfo } = paginate(views, request.query, {
        defaultPerPage: 200,
        minPerPage: 1,
        maxPerPage: 1000,
      });
      return send(reply, 200, result, resultInfo);
    },
  );

  api.get(
    define('GET', `${apps}/:app_id/policies/:policy_id`, 'access-policies-get-an-access-policy', READ),
    { schema: { params: appPolicyParams } },
    async (request, reply) => {
      const { account_id, app_id, policy_id } = request.params;
      const entry = repo.requireAppPolicy(account_id, app_id, policy_id);
      return send(reply, 200, accessPolicyView(entry.policy, { precedence: entry.precedence }));
    },
  );

  api.put(
    define('PUT', `${apps}/:app_id/policies/:policy_id`, 'access-policies-update-an-access-policy', WRITE),
    { schema: { params: appPolicyParams, body: appPolicyBody } },
    async (request, reply) => {
      const { account_id, app_id, policy_id } = request.params;
      const { precedence, ...body } = request.body;
      const entry = repo.updateAppPolicy(account_id, app_id, policy_id, toInput(body), precedence);
      return send(reply, 200, accessPolicyView(entry.policy, { precedence: entry.precedence }));
    },
  );
}
