import { randomUUID } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowFailedError,
  type Client,
  type WorkflowHandle,
  type WorkflowStartOptions,
} from '@temporalio/client';
import { TimeoutFailure } from '@temporalio/common';
import type { FastifyBaseLogger } from 'fastify';
import type { TokenHealthReport } from '../health/report';
import { TokenKind, TriggeredBy } from '../temporal/search-attributes';
import { checkTokenHealth, type CheckTokenHealthInput } from '../workflows/check-token-health';
import { HttpError } from './errors';

const RUN_TIMEOUT = '5 minutes';

export type Refresh =
  | { state: 'completed'; workflowId: string; started: boolean; report: TokenHealthReport }
  | { state: 'running' | 'failed' | 'unavailable'; workflowId: string; started: boolean; reason: string };

export interface TokenHealthRunDeps {
  temporal: Pick<Client, 'workflow'>;
  taskQueue: string;
  statusMaxAgeMs: number;
  refreshWaitMs: number;
  log: FastifyBaseLogger;
}

/** The checkTokenHealth runs the token routes start: one per check or heal request, one shared per stale status. */
export function tokenHealthRuns(deps: TokenHealthRunDeps) {
  const { statusMaxAgeMs, refreshWaitMs } = deps;
  const startOptions = (
    actor: string,
    input: CheckTokenHealthInput,
  ): Omit<WorkflowStartOptions<typeof checkTokenHealth>, 'workflowId'> => ({
    taskQueue: deps.taskQueue,
    args: [input],
    // A run normally takes seconds; Cloudflare retries are bounded well inside this.
    workflowExecutionTimeout: RUN_TIMEOUT,
    typedSearchAttributes: [
      { key: TriggeredBy, value: actor },
      { key: TokenKind, value: 'api-token' },
    ],
  });

  async function run(actor: string, options: Omit<CheckTokenHealthInput, 'trigger'>) {
    const handle = await deps.temporal.workflow.start(checkTokenHealth, {
      ...startOptions(actor, { trigger: { actor }, ...options }),
      workflowId: `token-health/${randomUUID()}`,
    });
    try {
      return await handle.result();
    } catch (error) {
      if (!(error instanceof WorkflowFailedError)) throw error;
      throw new HttpError(
        503,
        'health_check_unavailable',
        `token health run ${handle.workflowId} did not complete (${error.cause instanceof TimeoutFailure ? 'timed out: is a worker running?' : 'failed'}); see it in the Temporal UI`,
      );
    }
  }

  /**
   * One check (no heal) for every status request that finds `after` too old, however many
   * arrive and on however many API processes: its workflow id names the record it replaces.
   * While it runs, a second start is refused and joins it; once it has completed, the id is not
   * reused (ALLOW_DUPLICATE_FAILED_ONLY), so a request that read the old record just before the
   * new one was written joins the finished run instead of starting another. Only a failed or
   * timed-out refresh is started again. Starting with the FAIL conflict policy rather than
   * USE_EXISTING is what tells this request whether it started the run. With no record at all
   * there is nothing to key on, and a finished first check must not stand in for later ones.
   * The task queue in the id keeps deployments (and test stacks) sharing a namespace apart.
   */
  async function refreshStatus(actor: string, after: string | null): Promise<Refresh> {
    const workflowId = `token-health/status-refresh/${deps.taskQueue}/${after ?? 'first'}`;
    const deadline = Date.now() + refreshWaitMs;
    let started = false;
    let handle: WorkflowHandle<typeof checkTokenHealth> | null = null;
    try {
      return await deps.temporal.workflow.withDeadline(deadline, async () => {
        try {
          handle = await deps.temporal.workflow.start(checkTokenHealth, {
            ...startOptions(actor, {
              trigger: {
                actor,
                reason: after
                  ? `status older than ${Math.round(statusMaxAgeMs / 1000)} s`
                  : 'status: no recorded check',
              },
              autoHeal: false,
            }),
            workflowId,
            workflowIdConflictPolicy: 'FAIL',
            workflowIdReusePolicy: after ? 'ALLOW_DUPLICATE_FAILED_ONLY' : 'ALLOW_DUPLICATE',
          });
          started = true;
        } catch (error) {
          if (!(error instanceof WorkflowExecutionAlreadyStartedError)) throw error;
          handle = deps.temporal.workflow.getHandle<typeof checkTokenHealth>(workflowId);
        }
        return { state: 'completed' as const, workflowId, started, report: await handle.result() };
      });
    } catch (error) {
      if (error instanceof WorkflowFailedError)
        return {
          state: 'failed',
          workflowId,
          started,
          reason: error.cause instanceof TimeoutFailure ? 'timed out: is a worker running?' : 'failed',
        };
      if (handle && Date.now() >= deadline)
        return {
          state: 'running',
          workflowId,
          started,
          reason: `is still running after ${Math.round(refreshWaitMs / 1000)} s`,
        };
      deps.log.warn({ err: error, workflowId }, 'token status: the refresh check could not be started or followed');
      return {
        state: 'unavailable',
        workflowId,
        started,
        reason: 'could not be started or followed: Temporal did not answer',
      };
    }
  }

  return { run, refreshStatus };
}
