import { randomUUID } from 'node:crypto';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { TimeoutFailure } from '@temporalio/common';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { HistoryRepository } from '../../db/history-repository';
import { healMessage, healthData, healthDataSchema, historyDataSchema, historyEntry, statusData, statusDataSchema } from '../../health/wire';
import { TokenKind, TriggeredBy } from '../../temporal/search-attributes';
import { checkTokenHealth, type CheckTokenHealthInput } from '../../workflows/check-token-health';
import { errorResponseSchema, HttpError } from '../errors';

export interface TokenRouteDeps {
  temporal: Pick<Client, 'workflow'>;
  taskQueue: string;
  history: Pick<HistoryRepository, 'listApiTokenChecks'>;
}

const flag = z.enum(['true', 'false']).default('false');
const errors = { 400: errorResponseSchema, 401: errorResponseSchema, 503: errorResponseSchema };
const RUN_TIMEOUT = '5 minutes';

/**
 * The seed's Token Manager endpoints. Every check is a checkTokenHealth run on Temporal (its
 * workflow id is in the answer and the UI), and the answer is built from that run's result.
 */
export const tokenRoutes: FastifyPluginAsyncZod<TokenRouteDeps> = async (app, deps) => {
  async function run(actor: string, options: Omit<CheckTokenHealthInput, 'trigger'>) {
    const handle = await deps.temporal.workflow.start(checkTokenHealth, {
      taskQueue: deps.taskQueue,
      workflowId: `token-health/${randomUUID()}`,
      args: [{ trigger: { actor }, ...options }],
      // A run normally takes seconds; Cloudflare retries are bounded well inside this.
      workflowExecutionTimeout: RUN_TIMEOUT,
      typedSearchAttributes: [
        { key: TriggeredBy, value: actor },
        { key: TokenKind, value: 'api-token' },
      ],
    });
    try {
      return await handle.result();
    } catch (error) {
      if (!(error instanceof WorkflowFailedError)) throw error;
      throw new HttpError(503, 'health_check_unavailable', `token health run ${handle.workflowId} did not complete (${error.cause instanceof TimeoutFailure ? 'timed out: is a worker running?' : 'failed'}); see it in the Temporal UI`);
    }
  }
  const actorOf = (request: { client: { name: string } | null }) => `api:${request.client?.name ?? 'unknown'}`;

  app.get(
    '/tokens/health',
    {
      config: { scope: 'check' },
      schema: {
        tags: ['tokens'],
        summary: 'Check every API token (a checkTokenHealth run); ?auto_heal=true also adds missing permissions',
        querystring: z.object({ auto_heal: flag }),
        response: { 200: z.object({ success: z.literal(true), data: healthDataSchema }), ...errors },
      },
    },
    async (request) => {
      if (request.query.auto_heal === 'true') request.requireScope('heal');
      const report = await run(actorOf(request), { autoHeal: request.query.auto_heal === 'true' });
      return { success: true as const, data: healthData(report) };
    },
  );

  app.post(
    '/tokens/heal',
    {
      // A dry run changes nothing: checking is enough.
      config: { scope: 'check' },
      schema: {
        tags: ['tokens'],
        summary: 'Add missing permissions to every valid, active API token (add-only); ?dry_run=true changes nothing',
        querystring: z.object({ dry_run: flag }),
        response: { 200: z.object({ success: z.literal(true), message: z.string(), data: healthDataSchema }), ...errors },
      },
    },
    async (request) => {
      if (request.query.dry_run !== 'true') request.requireScope('heal');
      const report = await run(actorOf(request), { autoHeal: true, dryRun: request.query.dry_run === 'true' });
      return { success: true as const, message: healMessage(report), data: healthData(report) };
    },
  );

  app.get(
    '/tokens/status',
    {
      config: { scope: 'check' },
      schema: {
        tags: ['tokens'],
        summary: 'Quick status of the API tokens (a checkTokenHealth run without heal, minimal answer)',
        response: { 200: z.object({ success: z.literal(true), data: statusDataSchema }), ...errors },
      },
    },
    async (request) => {
      const report = await run(actorOf(request), { autoHeal: false });
      return { success: true as const, data: statusData(report) };
    },
  );

  app.get(
    '/tokens/history',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['tokens'],
        summary: 'Recorded token health runs, newest first',
        querystring: z.object({ limit: z.coerce.number().int().min(1).max(100).default(10) }),
        response: { 200: z.object({ success: z.literal(true), data: historyDataSchema }), ...errors },
      },
    },
    async (request) => {
      const rows = await deps.history.listApiTokenChecks(request.query.limit, 'health');
      const history = rows.map(historyEntry);
      return { success: true as const, data: { history, count: history.length } };
    },
  );
};
