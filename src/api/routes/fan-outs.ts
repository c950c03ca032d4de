import type { Client } from '@temporalio/client';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { fanOutProgressQuery, type FanOutProgress } from '../../workflows/fan-out';
import { authErrors, backendErrors, inputErrors } from '../errors';
import { limit } from '../inputs';
import { workflowRunSchema, workflowRunWire } from '../workflow-run-wire';

export interface FanOutRouteDeps {
  temporal: Pick<Client, 'workflow'>;
  taskQueue: string;
}

const FAN_OUT_TYPES = ['rotateAllServiceTokens', 'sweepExpiry'];
/** A running fan-out answers its progress query in milliseconds; one without a worker never does. */
const QUERY_WAIT_MS = 3_000;

const progressSchema = z.object({
  total: z.number(),
  completed: z.number(),
  failed: z.number(),
  joined: z.number(),
  running: z.number(),
  waiting: z.number(),
  concurrency: z.number(),
  budget_use: z.number().nullable(),
  started_at: z.string(),
  eta_seconds: z.number().nullable(),
});

const fanOutSchema = workflowRunSchema.extend({ progress: progressSchema.nullable() });

const wire = (p: FanOutProgress): z.infer<typeof progressSchema> => ({
  total: p.total,
  completed: p.completed,
  failed: p.failed,
  joined: p.joined,
  running: p.running,
  waiting: p.waiting,
  concurrency: p.concurrency,
  budget_use: p.budgetUse,
  started_at: p.startedAt,
  eta_seconds: p.etaSeconds,
});

/**
 * Fleet rotations and expiry sweeps, newest first, with the progress of the running ones
 * (their `fanOutProgress` query): done, running, waiting, failed and the ETA at the pace so far.
 */
export const fanOutRoutes: FastifyPluginAsyncZod<FanOutRouteDeps> = async (app, deps) => {
  async function progressOf(workflowId: string, runId: string): Promise<FanOutProgress | null> {
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), QUERY_WAIT_MS)));
    try {
      const answer = deps.temporal.workflow.getHandle(workflowId, runId).query(fanOutProgressQuery);
      // Runs recorded before fan-outs had progress do not answer the query.
      return await Promise.race([answer.catch(() => null), gaveUp]);
    } finally {
      clearTimeout(timer);
    }
  }

  app.get(
    '/fan-outs',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['service-tokens'],
        summary: 'Fleet rotations and expiry sweeps, newest first; running ones with their progress and ETA',
        querystring: z.object({ limit: limit(50, 10) }),
        response: {
          200: z.object({ success: z.literal(true), data: z.object({ fan_outs: z.array(fanOutSchema) }) }),
          ...inputErrors,
          ...authErrors,
          ...backendErrors,
        },
      },
    },
    async (request) => {
      const types = FAN_OUT_TYPES.map((type) => `'${type}'`).join(', ');
      const query = `WorkflowType IN (${types}) AND TaskQueue = '${deps.taskQueue.replace(/'/g, '')}'`;
      const found = [];
      for await (const run of deps.temporal.workflow.list({ query, pageSize: request.query.limit })) {
        found.push(run);
        if (found.length >= request.query.limit) break;
      }
      const fanOuts = await Promise.all(
        found.map(async (run) => {
          const progress = run.status.name === 'RUNNING' ? await progressOf(run.workflowId, run.runId) : null;
          return {
            ...workflowRunWire(run),
            progress: progress ? wire(progress) : null,
          };
        }),
      );
      return { success: true as const, data: { fan_outs: fanOuts } };
    },
  );
};
