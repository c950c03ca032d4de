import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Inventory } from '../../config';
import type { HistoryRepository } from '../../db/history-repository';
import { apiTokenRotationWorkflowId, findApiTokensByName, type ManagedApiToken } from '../../inventory';
import { targetLabel } from '../../stores/target-label';
import {
  CloudflareAccountId,
  RotationStrategy,
  TokenKind,
  TokenName,
  TriggeredBy,
} from '../../temporal/search-attributes';
import { emergencyRevokeSignal } from '../../workflows/rotation/messages';
import { rotateApiToken } from '../../workflows/rotation/rotate-api-token';
import { emergencyTaskQueue } from '../../workflows/triggers';
import { apiActor } from '../actor';
import { auditRevoke, rotationConflict } from '../rotation-answers';
import { revokeRouteSchema, rotateRouteSchema } from '../rotation-route-schemas';
import { HttpError, notFound } from '../errors';
import { workflowRunLink } from './workflows';

export interface ApiTokenRotationRouteDeps {
  inventory: Pick<Inventory, 'accounts'>;
  temporal: Pick<Client, 'workflow'>;
  taskQueue: string;
  history: Pick<HistoryRepository, 'recordAudit'>;
}

const planResponse = z.object({
  success: z.literal(true),
  data: z.object({
    dry_run: z.literal(true),
    workflow_id: z.string(),
    account_id: z.string(),
    token: z.string(),
    kind: z.enum(['account', 'user']),
    strategy: z.enum(['successor', 'roll']),
    steps: z.array(z.string()),
    duration: z.string(),
    propagation_wait: z.string(),
    targets: z.array(z.string()),
  }),
});

const STEPS = {
  successor: [
    'resolve',
    'issue (create a successor with the same policies and condition, a fresh expiry)',
    'propagate',
    'verify (read back every store; the new value passes tokens/verify and holds every required permission)',
    'wait',
    'retire (delete the old token)',
    'finish',
  ],
  roll: [
    'resolve',
    'issue (roll the value: the old value dies at once)',
    'propagate',
    'verify (read back every store; the new value passes tokens/verify and holds every required permission)',
    'wait',
    'finish',
  ],
};

const attributes = (entry: ManagedApiToken, actor: string, strategy: string) => [
  { key: TokenName, value: entry.token.name },
  { key: CloudflareAccountId, value: entry.account.id },
  { key: TokenKind, value: 'api-token' },
  { key: TriggeredBy, value: actor },
  { key: RotationStrategy, value: strategy },
];

/** Rotation and emergency revoke of API tokens that carry `rotate:` (history: routes/rotations.ts). */
export const apiTokenRotationRoutes: FastifyPluginAsyncZod<ApiTokenRotationRouteDeps> = async (app, deps) => {
  function locate(name: string, accountId: string | undefined) {
    const matches = findApiTokensByName(deps.inventory, name).filter((m) => !accountId || m.account.id === accountId);
    if (!matches.length) throw notFound(`no API token named "${name}"${accountId ? ` in account ${accountId}` : ''}`);
    if (matches.length > 1)
      throw new HttpError(400, 'ambiguous_token', `"${name}" exists in several accounts; add ?account_id=`);
    const entry = matches[0]!;
    const rotate = entry.token.rotate;
    // Not rotatable is not found as a rotatable token: the request itself was valid.
    if (!rotate) throw notFound(`API token "${name}" has no rotate: in the inventory: nothing to rotate`);
    return { entry, rotate, workflowId: apiTokenRotationWorkflowId(entry) };
  }

  const input = (entry: ManagedApiToken, mode: 'manual' | 'emergency', actor: string, why?: string) => ({
    accountId: entry.account.id,
    tokenName: entry.token.name,
    mode,
    trigger: { actor, reason: why },
  });

  app.post(
    '/api-tokens/:name/rotate',
    {
      config: { scope: 'rotate' },
      links: { 202: workflowRunLink },
      schema: rotateRouteSchema(
        'api-tokens',
        'Rotate an API token now (202), or show the plan (?dry_run=true)',
        planResponse,
      ),
    },
    async (request, reply) => {
      const { entry, rotate, workflowId } = locate(request.params.name, request.query.account_id);
      if (request.query.dry_run === 'true')
        return reply.code(200).send({
          success: true as const,
          data: {
            dry_run: true as const,
            workflow_id: workflowId,
            account_id: entry.account.id,
            token: entry.token.name,
            kind: entry.token.kind,
            strategy: rotate.strategy,
            steps: STEPS[rotate.strategy],
            duration: rotate.duration,
            propagation_wait: rotate.propagationWait,
            targets: rotate.targets.map((target) => targetLabel(target, entry.account.id)),
          },
        });
      const actor = apiActor(request);
      try {
        const handle = await deps.temporal.workflow.start(rotateApiToken, {
          taskQueue: deps.taskQueue,
          workflowId,
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
          workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
          args: [input(entry, 'manual', actor, request.body?.reason)],
          typedSearchAttributes: attributes(entry, actor, rotate.strategy),
        });
        return reply
          .code(202)
          .send({ success: true as const, data: { workflow_id: workflowId, run_id: handle.firstExecutionRunId } });
      } catch (error) {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
        return reply.code(409).send(await rotationConflict(deps.temporal, workflowId, entry.token.name));
      }
    },
  );

  app.post(
    '/api-tokens/:name/revoke',
    {
      config: { scope: 'revoke' },
      links: { 202: workflowRunLink },
      schema: revokeRouteSchema(
        'api-tokens',
        'Emergency revoke: the old value dies at once (roll), a successor is issued and propagated',
      ),
    },
    async (request, reply) => {
      const { entry, workflowId } = locate(request.params.name, request.query.account_id);
      const actor = apiActor(request);
      const handle = await deps.temporal.workflow.signalWithStart(rotateApiToken, {
        // On the emergency queue: its Cloudflare calls spend the emergency lane of the request budget.
        taskQueue: emergencyTaskQueue(deps.taskQueue),
        workflowId,
        args: [input(entry, 'emergency', actor, request.body.reason)],
        signal: emergencyRevokeSignal,
        signalArgs: [{ actor, reason: request.body.reason }],
        priority: { priorityKey: 1 },
        typedSearchAttributes: attributes(entry, actor, 'successor'),
      });
      await auditRevoke(deps.history, request.log, {
        actor,
        subject: entry.token.name,
        workflowId,
        runId: handle.signaledRunId,
        details: { accountId: entry.account.id, kind: 'api-token', reason: request.body.reason },
      });
      return reply
        .code(202)
        .send({ success: true as const, data: { workflow_id: workflowId, run_id: handle.signaledRunId } });
    },
  );
};
