import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { decideForServiceToken } from './access-eval';
import type { CallCounter } from './calls';
import type { SimulatorState } from './state/state';

export const PROBE_PREFIX = '/probe';

export interface ProbeDeps {
  state: SimulatorState;
  calls: CallCounter;
}

type ProbeResult =
  | {
      status: 200;
      body: {
        success: true;
        app_id: string;
        service_token_id: string;
        credential: 'current' | 'previous';
        client_secret_version: number;
      };
    }
  | { status: 403 | 404; body: { success: false; app_id: string; reason: string } };

const header = (request: FastifyRequest, name: string): string | undefined => {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
};

/**
 * An Access-protected app at /probe/:appId (any method, any sub-path). It answers 200 when
 * CF-Access-Client-Id / CF-Access-Client-Secret are currently valid (the current secret, or
 * the previous one before previous_client_secret_expires_at; token enabled and unexpired)
 * and a policy of the app lets that token in; otherwise 403, like Access. Bodies never
 * carry a secret.
 */
export function probeRoutes(app: FastifyInstance, deps: ProbeDeps): void {
  const handler = async (
    request: FastifyRequest<{ Params: { appId: string } }>,
    reply: FastifyReply,
  ): Promise<FastifyReply> => {
    const outcome = evaluate(
      deps.state,
      request.params.appId,
      header(request, 'cf-access-client-id'),
      header(request, 'cf-access-client-secret'),
    );
    deps.calls.record('probe', outcome.status);
    return reply.code(outcome.status).send(outcome.body);
  };
  const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
  app.route({ method: [...methods], url: `${PROBE_PREFIX}/:appId`, handler });
  app.route({ method: [...methods], url: `${PROBE_PREFIX}/:appId/*`, handler });
}

function evaluate(
  state: SimulatorState,
  appId: string,
  clientId: string | undefined,
  clientSecret: string | undefined,
): ProbeResult {
  const denied = (status: 403 | 404, reason: string): ProbeResult => ({
    status,
    body: { success: false, app_id: appId, reason },
  });
  const app = state.access.app(appId);
  if (!app) return denied(404, 'unknown_application');
  if (!clientId || !clientSecret) return denied(403, 'missing_credentials');
  const check = state.serviceTokens.checkCredential(clientId, clientSecret);
  if (!check.ok) return denied(403, check.reason);
  const { token } = check;
  const tokenAccount =
    token.scope.kind === 'account' ? token.scope.accountId : state.accounts.zone(token.scope.zoneId)?.accountId;
  if (tokenAccount !== app.accountId) return denied(403, 'token_not_in_application_account');
  if (!decideForServiceToken(state.access.appPolicies(app), token.id).allowed)
    return denied(403, 'not_allowed_by_policy');
  state.serviceTokens.touch(token);
  return {
    status: 200,
    body: {
      success: true,
      app_id: appId,
      service_token_id: token.id,
      credential: check.secret,
      client_secret_version: token.client_secret_version,
    },
  };
}
