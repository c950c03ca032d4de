import type { WorkflowExecutionInfo } from '@temporalio/client';
import { z } from 'zod';

/** A Temporal run as the API names it: which run, what it is and how it stands. */
export const workflowRunSchema = z.object({
  workflow_id: z.string(),
  run_id: z.string(),
  type: z.string(),
  status: z.string(),
  started_at: z.string().nullable(),
  closed_at: z.string().nullable(),
});

export const workflowRunWire = (
  run: Pick<WorkflowExecutionInfo, 'workflowId' | 'runId' | 'type' | 'status' | 'startTime' | 'closeTime'>,
): z.infer<typeof workflowRunSchema> => ({
  workflow_id: run.workflowId,
  run_id: run.runId,
  type: run.type,
  status: run.status.name,
  started_at: run.startTime?.toISOString() ?? null,
  closed_at: run.closeTime?.toISOString() ?? null,
});
