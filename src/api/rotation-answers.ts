import type { Client } from '@temporalio/client';
import type { FastifyBaseLogger } from 'fastify';
import type { HistoryRepository } from '../db/history-repository';

/** The 409 a rotate gets while a run of the token is going: which run is in the way. */
export async function rotationConflict(temporal: Pick<Client, 'workflow'>, workflowId: string, tokenName: string) {
  const running = await temporal.workflow
    .getHandle(workflowId)
    .describe()
    .catch(() => undefined);
  return {
    success: false as const,
    error: {
      code: 'conflict' as const,
      message: `a rotation of ${tokenName} is already running`,
      workflow_id: workflowId,
      run_id: running?.runId ?? null,
    },
  };
}

/**
 * The audit row of a delivered revoke. The revoke went through: a failing audit write must not
 * turn that into an error for the caller, so it is logged instead.
 */
export async function auditRevoke(
  history: Pick<HistoryRepository, 'recordAudit'>,
  log: FastifyBaseLogger,
  row: { actor: string; subject: string; workflowId: string; runId: string; details: Record<string, unknown> },
): Promise<void> {
  await history
    .recordAudit({ action: 'revoke.request', ...row })
    .catch((error: unknown) =>
      log.error(
        { err: error, workflowId: row.workflowId },
        'revoke: the audit row of a delivered revoke could not be written',
      ),
    );
}
