import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Inventory } from '../../config';
import type { HistoryRepository } from '../../db/history-repository';
import type { RotationRepository } from '../../db/rotation-repository';
import {
  findServiceTokensByName,
  managedServiceTokens,
  rotationWorkflowId,
  type ManagedServiceToken,
} from '../../inventory';
import type { ReadServiceTokenExpiry } from '../../service-token-expiry';
import { targetLabel } from '../../stores/target-label';
import {
  CloudflareAccountId,
  RotationStrategy,
  TokenKind,
  TokenName,
  TriggeredBy,
} from '../../temporal/search-attributes';
import {
  emergencyRevokeSignal,
  rotateServiceToken,
  type RotationMode,
} from '../../workflows/rotation/rotate-service-token';
import { emergencyTaskQueue } from '../../workflows/triggers';
import {
  authErrors,
  backendErrors,
  bodyErrors,
  errorResponseSchema,
  HttpError,
  notFound,
  paramErrors,
} from '../errors';
import { accountId, flag, reason, tokenName } from '../inputs';
import { workflowRunLink } from './workflows';

export interface ServiceTokenRouteDeps {
  temporal: Pick<Client, 'workflow'>;
  taskQueue: string;
  inventory: Pick<Inventory, 'accounts'>;
  history: Pick<HistoryRepository, 'recordAudit'>;
  rotations: Pick<RotationRepository, 'lastRotation'>;
  /** Managed tokens' ids and expiry as Cloudflare has them; absent, they are unknown. */
  serviceTokenExpiry?: ReadServiceTokenExpiry;
}

const tokenParams = z.object({ name: tokenName });
const accountQuery = z.object({ account_id: accountId.optional() });
const workflowStarted = z.object({
  success: z.literal(true),
  data: z.object({ workflow_id: z.string(), run_id: z.string() }),
});
const conflictResponse = z.object({
  success: z.literal(false),
  error: z.object({
    code: z.literal('conflict'),
    message: z.string(),
    workflow_id: z.string(),
    run_id: z.string().nullable(),
  }),
});

const planResponse = z.object({
  success: z.literal(true),
  data: z.object({
    dry_run: z.literal(true),
    workflow_id: z.string(),
    account_id: z.string(),
    token: z.string(),
    strategy: z.enum(['rotate-secret', 'replace']),
    steps: z.array(z.string()),
    overlap: z.string(),
    propagation_wait: z.string(),
    probe_url: z.string().nullable(),
    targets: z.array(z.string()),
  }),
});

const inventoryResponse = z.object({
  success: z.literal(true),
  data: z.object({
    service_tokens: z.array(
      z.object({
        account_id: z.string(),
        name: z.string(),
        scope: z.enum(['account', 'zone']),
        strategy: z.enum(['rotate-secret', 'replace']),
        token_id: z.string().nullable(),
        expires_at: z.string().nullable(),
        days_to_expiry: z.number().nullable(),
        renew_before: z.string(),
        targets: z.array(z.string()),
        last_rotation: z
          .object({
            run_id: z.string(),
            status: z.string(),
            started_at: z.string(),
            finished_at: z.string().nullable(),
          })
          .nullable(),
        workflow_id: z.string(),
      }),
    ),
    count: z.number(),
  }),
});

const DAY_MS = 86_400_000;

function latest(dates: Array<Date | null | undefined>): Date | undefined {
  return dates.reduce<Date | undefined>((max, d) => (d && (!max || d > max) ? d : max), undefined);
}

function steps(strategy: 'rotate-secret' | 'replace', hasProbe: boolean): string[] {
  return strategy === 'rotate-secret'
    ? [
        'resolve',
        'issue (rotate, previous secret kept for the overlap)',
        'propagate',
        hasProbe ? 'verify (read back every store, probe the app)' : 'verify (read back every store)',
        'wait',
        'retire (previous secret expires now)',
        'finish',
      ]
    : [
        'resolve',
        'issue (create a new token)',
        'bind (add it beside the old one in every Access policy)',
        'propagate',
        hasProbe ? 'verify (read back every store, probe the app)' : 'verify (read back every store)',
        'wait',
        'retire (unbind and delete the old token)',
        'finish',
      ];
}

/** Service-token inventory, rotation and emergency revoke (their history: routes/rotations.ts). */
export const serviceTokenRoutes: FastifyPluginAsyncZod<ServiceTokenRouteDeps> = async (app, deps) => {
  function locate(name: string, accountId: string | undefined): ManagedServiceToken {
    const matches = findServiceTokensByName(deps.inventory, name).filter(
      (m) => !accountId || m.account.id === accountId,
    );
    if (!matches.length)
      throw notFound(`no managed service token named "${name}"${accountId ? ` in account ${accountId}` : ''}`);
    if (matches.length > 1)
      throw new HttpError(400, 'ambiguous_token', `"${name}" exists in several accounts; add ?account_id=`);
    return matches[0]!;
  }

  const actorOf = (request: { client: { name: string } | null }) => `api:${request.client?.name ?? 'unknown'}`;

  app.get(
    '/service-tokens',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['service-tokens'],
        summary: 'Managed service tokens with expiry, last rotation and status',
        response: { 200: inventoryResponse, ...authErrors, ...backendErrors },
      },
    },
    async () => {
      const entries = managedServiceTokens(deps.inventory);
      const lastRotations = await Promise.all(
        entries.map(({ account, token }) => deps.rotations.lastRotation(account.id, token.name)),
      );
      const changedSince = latest(lastRotations.map((last) => last?.finishedAt));
      const expiry = deps.serviceTokenExpiry ? await deps.serviceTokenExpiry({ changedSince }).catch(() => []) : [];
      const now = Date.now();
      const serviceTokens = entries.map(({ account, token }, i) => {
        const live = expiry.find((t) => t.accountId === account.id && t.tokenName === token.name);
        const last = lastRotations[i];
        const expiresAt = live?.expiresAt ?? null;
        return {
          account_id: account.id,
          name: token.name,
          scope: token.zoneId ? ('zone' as const) : ('account' as const),
          strategy: token.strategy,
          token_id: live?.tokenId ?? null,
          expires_at: expiresAt,
          days_to_expiry: expiresAt ? Math.floor((Date.parse(expiresAt) - now) / DAY_MS) : null,
          renew_before: token.renewBefore,
          targets: token.targets.map((target) => targetLabel(target, account.id)),
          last_rotation: last
            ? {
                run_id: last.runId,
                status: last.status,
                started_at: last.startedAt.toISOString(),
                finished_at: last.finishedAt?.toISOString() ?? null,
              }
            : null,
          workflow_id: rotationWorkflowId(account.id, token.name),
        };
      });
      return { success: true as const, data: { service_tokens: serviceTokens, count: serviceTokens.length } };
    },
  );

  app.post(
    '/service-tokens/:name/rotate',
    {
      config: { scope: 'rotate' },
      links: { 202: workflowRunLink },
      schema: {
        tags: ['service-tokens'],
        summary: 'Rotate a service token now (202), or show the plan (?dry_run=true)',
        params: tokenParams,
        querystring: accountQuery.extend({ dry_run: flag }),
        body: z.object({ reason: reason.optional() }).nullish(),
        response: {
          200: planResponse,
          202: workflowStarted,
          ...paramErrors,
          ...bodyErrors,
          ...authErrors,
          404: errorResponseSchema,
          409: conflictResponse,
          ...backendErrors,
        },
      },
    },
    async (request, reply) => {
      const { account, token } = locate(request.params.name, request.query.account_id);
      const workflowId = rotationWorkflowId(account.id, token.name);
      const strategy = token.zoneId ? 'replace' : token.strategy;
      if (request.query.dry_run === 'true') {
        return reply.code(200).send({
          success: true as const,
          data: {
            dry_run: true as const,
            workflow_id: workflowId,
            account_id: account.id,
            token: token.name,
            strategy,
            steps: steps(strategy, Boolean(token.probeUrl)),
            overlap: token.overlap,
            propagation_wait: token.propagationWait,
            probe_url: token.probeUrl ?? null,
            targets: token.targets.map((target) => targetLabel(target, account.id)),
          },
        });
      }
      const actor = actorOf(request);
      try {
        const handle = await deps.temporal.workflow.start(rotateServiceToken, {
          taskQueue: deps.taskQueue,
          workflowId,
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
          args: [
            {
              accountId: account.id,
              tokenName: token.name,
              mode: 'manual' as RotationMode,
              trigger: { actor, reason: request.body?.reason },
            },
          ],
          typedSearchAttributes: [
            { key: TokenName, value: token.name },
            { key: CloudflareAccountId, value: account.id },
            { key: RotationStrategy, value: strategy },
            { key: TokenKind, value: 'service-token' },
            { key: TriggeredBy, value: actor },
          ],
        });
        return reply.code(202).send({
          success: true as const,
          data: { workflow_id: handle.workflowId, run_id: handle.firstExecutionRunId },
        });
      } catch (error) {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
        const running = await deps.temporal.workflow
          .getHandle(workflowId)
          .describe()
          .catch(() => undefined);
        return reply.code(409).send({
          success: false as const,
          error: {
            code: 'conflict' as const,
            message: `a rotation of ${token.name} is already running`,
            workflow_id: workflowId,
            run_id: running?.runId ?? null,
          },
        });
      }
    },
  );

  app.post(
    '/service-tokens/:name/revoke',
    {
      config: { scope: 'revoke' },
      links: { 202: workflowRunLink },
      schema: {
        tags: ['service-tokens'],
        summary: 'Emergency revoke: kill the credential now, issue and propagate a new one',
        params: tokenParams,
        querystring: accountQuery,
        // The reason is validated here, before anything starts: it goes into the run's history and the audit trail.
        body: z.object({ reason }),
        response: {
          202: workflowStarted,
          ...paramErrors,
          ...bodyErrors,
          ...authErrors,
          404: errorResponseSchema,
          ...backendErrors,
        },
      },
    },
    async (request, reply) => {
      const { account, token } = locate(request.params.name, request.query.account_id);
      const actor = actorOf(request);
      const workflowId = rotationWorkflowId(account.id, token.name);
      // signalWithStart: a running rotation is told to retire now; otherwise one starts in emergency mode.
      const handle = await deps.temporal.workflow.signalWithStart(rotateServiceToken, {
        // A run this starts lives on the emergency queue, away from routine work's backlog.
        taskQueue: emergencyTaskQueue(deps.taskQueue),
        workflowId,
        args: [
          {
            accountId: account.id,
            tokenName: token.name,
            mode: 'emergency' as RotationMode,
            trigger: { actor, reason: request.body.reason },
          },
        ],
        signal: emergencyRevokeSignal,
        signalArgs: [{ actor, reason: request.body.reason }],
        // Temporal serves priority 1 first in a backlogged queue: the revoke's first workflow task overtakes routine work.
        priority: { priorityKey: 1 },
        typedSearchAttributes: [
          { key: TokenName, value: token.name },
          { key: CloudflareAccountId, value: account.id },
          { key: RotationStrategy, value: token.zoneId ? 'replace' : token.strategy },
          { key: TokenKind, value: 'service-token' },
          { key: TriggeredBy, value: actor },
        ],
      });
      // The revoke went through: a failing audit write must not turn that into an error for the caller.
      await deps.history
        .recordAudit({
          actor,
          action: 'revoke.request',
          subject: token.name,
          workflowId,
          runId: handle.signaledRunId,
          details: { accountId: account.id, reason: request.body.reason },
        })
        .catch((error: unknown) =>
          request.log.error(
            { err: error, workflowId },
            'revoke: the audit row of a delivered revoke could not be written',
          ),
        );
      return reply
        .code(202)
        .send({ success: true as const, data: { workflow_id: workflowId, run_id: handle.signaledRunId } });
    },
  );
};
