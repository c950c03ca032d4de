import type { Client } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/common';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import type { HistoryRepository } from '../../db/history-repository';
import { findServiceTokensByName, rotationWorkflowId, type ManagedServiceToken } from '../../inventory';
import { targetLabel } from '../../stores/target-label';
import { serviceTokenAttributes } from '../../temporal/search-attributes';
import {
  emergencyRevokeSignal,
  rotateServiceToken,
  type RotationMode,
} from '../../workflows/rotation/rotate-service-token';
import { emergencyTaskQueue } from '../../workflows/triggers';
import { apiActor } from '../actor';
import { auditRevoke, rotationConflict } from '../rotation-answers';
import { revokeRouteSchema, rotateRouteSchema } from '../rotation-route-schemas';
import { authErrors, backendErrors, HttpError, notFound } from '../errors';
import { rotationPlanSteps } from '../rotation-plan';
import { listServiceTokens, type ServiceTokenListingDeps } from '../service-token-listing';
import { inventoryResponse, planResponse } from '../service-token-schemas';
import { workflowRunLink } from './workflows';

export interface ServiceTokenRouteDeps extends ServiceTokenListingDeps {
  temporal: Pick<Client, 'workflow'>;
  taskQueue: string;
  history: Pick<HistoryRepository, 'recordAudit'>;
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
      const serviceTokens = await listServiceTokens(deps);
      return { success: true as const, data: { service_tokens: serviceTokens, count: serviceTokens.length } };
    },
  );

  app.post(
    '/service-tokens/:name/rotate',
    {
      config: { scope: 'rotate' },
      links: { 202: workflowRunLink },
      schema: rotateRouteSchema(
        'service-tokens',
        'Rotate a service token now (202), or show the plan (?dry_run=true)',
        planResponse,
      ),
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
            steps: rotationPlanSteps(strategy, Boolean(token.probeUrl)),
            overlap: token.overlap,
            propagation_wait: token.propagationWait,
            probe_url: token.probeUrl ?? null,
            targets: token.targets.map((target) => targetLabel(target, account.id)),
          },
        });
      }
      const actor = apiActor(request);
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
          typedSearchAttributes: serviceTokenAttributes(
            { accountId: account.id, tokenName: token.name },
            actor,
            strategy,
          ),
        });
        return reply.code(202).send({
          success: true as const,
          data: { workflow_id: handle.workflowId, run_id: handle.firstExecutionRunId },
        });
      } catch (error) {
        if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
        return reply.code(409).send(await rotationConflict(deps.temporal, workflowId, token.name));
      }
    },
  );

  app.post(
    '/service-tokens/:name/revoke',
    {
      config: { scope: 'revoke' },
      links: { 202: workflowRunLink },
      schema: revokeRouteSchema(
        'service-tokens',
        'Emergency revoke: kill the credential now, issue and propagate a new one',
      ),
    },
    async (request, reply) => {
      const { account, token } = locate(request.params.name, request.query.account_id);
      const actor = apiActor(request);
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
        typedSearchAttributes: serviceTokenAttributes(
          { accountId: account.id, tokenName: token.name },
          actor,
          token.zoneId ? 'replace' : token.strategy,
        ),
      });
      await auditRevoke(deps.history, request.log, {
        actor,
        subject: token.name,
        workflowId,
        runId: handle.signaledRunId,
        details: { accountId: account.id, reason: request.body.reason },
      });
      return reply
        .code(202)
        .send({ success: true as const, data: { workflow_id: workflowId, run_id: handle.signaledRunId } });
    },
  );
};
