import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { authErrors, backendErrors, errorResponseSchema, notFound, paramErrors } from '../errors';
import { runId, workflowId } from '../inputs';
import { workflowRunSchema, workflowRunWire } from '../workflow-run-wire';

export interface WorkflowRouteDeps {
  temporal: Pick<Client, 'workflow'>;
}

const EventType = temporal.api.enums.v1.EventType;

/** The run a 202 names can be followed here (an OpenAPI link from rotate and revoke). */
export const WORKFLOW_RUN_OPERATION = 'getWorkflowRun';
export const workflowRunLink = {
  workflowRun: {
    operationId: WORKFLOW_RUN_OPERATION,
    parameters: { '*': '$response.body#/data/workflow_id', run_id: '$response.body#/data/run_id' },
    description: 'The run just started or signalled',
  },
};

const stepSchema = z.object({
  activity: z.string(),
  status: z.enum(['scheduled', 'started', 'completed', 'failed', 'timed-out', 'canceled']),
  attempt: z.number(),
  scheduled_at: z.string().nullable(),
  finished_at: z.string().nullable(),
});

const workflowResponse = z.object({
  success: z.literal(true),
  data: workflowRunSchema.extend({
    search_attributes: z.record(z.string(), z.unknown()),
    steps: z.array(stepSchema),
    signals: z.array(z.object({ name: z.string(), at: z.string().nullable() })),
  }),
});

const time = (t: { seconds?: unknown; nanos?: number | null } | null | undefined): string | null =>
  t?.seconds != null ? new Date(Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6)).toISOString() : null;

/**
 * A run's status and a readable list of its activities, read from Temporal history. Names,
 * statuses and times only: payloads stay encrypted and are never decoded here.
 */
export const workflowRoutes: FastifyPluginAsyncZod<WorkflowRouteDeps> = async (app, deps) => {
  app.get(
    '/workflows/*',
    {
      config: { scope: 'read' },
      schema: {
        tags: ['workflows'],
        operationId: WORKFLOW_RUN_OPERATION,
        summary: 'Status and step list of a workflow run (ids contain slashes: /workflows/rotate/<account>/<token>)',
        params: z.object({ '*': workflowId }),
        querystring: z.object({ run_id: runId.optional() }),
        response: { 200: workflowResponse, ...paramErrors, ...authErrors, 404: errorResponseSchema, ...backendErrors },
      },
    },
    async (request) => {
      const id = request.params['*'];
      const handle = deps.temporal.workflow.getHandle(id, request.query.run_id);
      let description;
      try {
        description = await handle.describe();
      } catch (error) {
        if (error instanceof WorkflowNotFoundError)
          throw notFound(`no workflow ${id}${request.query.run_id ? ` with run ${request.query.run_id}` : ''}`);
        throw error;
      }
      const history = await handle.fetchHistory();
      const steps: Array<z.infer<typeof stepSchema>> = [];
      const byScheduledId = new Map<string, z.infer<typeof stepSchema>>();
      const signals: Array<{ name: string; at: string | null }> = [];
      for (const event of history.events ?? []) {
        const at = time(event.eventTime);
        switch (event.eventType) {
          case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: {
            const step = {
              activity: event.activityTaskScheduledEventAttributes?.activityType?.name ?? 'activity',
              status: 'scheduled' as const,
              attempt: 1,
              scheduled_at: at,
              finished_at: null,
            };
            steps.push(step);
            byScheduledId.set(String(event.eventId), step);
            break;
          }
          case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
            const step = byScheduledId.get(String(event.activityTaskStartedEventAttributes?.scheduledEventId));
            if (step)
              Object.assign(step, {
                status: 'started',
                attempt: event.activityTaskStartedEventAttributes?.attempt ?? 1,
              });
            break;
          }
          case EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
          case EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
          case EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
          case EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: {
            const attrs =
              event.activityTaskCompletedEventAttributes ??
              event.activityTaskFailedEventAttributes ??
              event.activityTaskTimedOutEventAttributes ??
              event.activityTaskCanceledEventAttributes;
            const step = byScheduledId.get(String(attrs?.scheduledEventId));
            const status =
              event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED
                ? 'completed'
                : event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED
                  ? 'failed'
                  : event.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT
                    ? 'timed-out'
                    : 'canceled';
            if (step) Object.assign(step, { status, finished_at: at });
            break;
          }
          case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            signals.push({ name: event.workflowExecutionSignaledEventAttributes?.signalName ?? 'signal', at });
            break;
          default:
            break;
        }
      }
      const searchAttributes = Object.fromEntries(
        description.typedSearchAttributes
          .getAll()
          .map((pair) => [pair.key.name, pair.value instanceof Date ? pair.value.toISOString() : pair.value]),
      );
      return {
        success: true as const,
        data: {
          ...workflowRunWire(description),
          search_attributes: searchAttributes,
          steps,
          signals,
        },
      };
    },
  );
};
