import { emergencyTaskQueue } from '../../src/workflows/triggers';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

type History = temporal.api.history.v1.IHistory;
const { EventType } = temporal.api.enums.v1;

/**
 * The path a run took, by what its workflow code decided: commands (activities, timers,
 * children, markers) and what it was told (signals). Two runs with the same shape replay the
 * same code paths, so only one of them is kept.
 */
export function historyShape(history: History): string {
  const steps: string[] = [];
  for (const event of history.events ?? []) {
    const type = event.eventType ?? EventType.EVENT_TYPE_UNSPECIFIED;
    const name = EventType[type]?.replace('EVENT_TYPE_', '') ?? String(type);
    if (type === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
      steps.push(`activity:${event.activityTaskScheduledEventAttributes?.activityType?.name}`);
    else if (type === EventType.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED)
      steps.push(`child:${event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowType?.name}`);
    else if (type === EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED)
      steps.push(`signal:${event.workflowExecutionSignaledEventAttributes?.signalName}`);
    else if (
      /TIMER_STARTED|MARKER_RECORDED|WORKFLOW_EXECUTION_(COMPLETED|FAILED|CONTINUED_AS_NEW)|ACTIVITY_TASK_(FAILED|TIMED_OUT)|UPSERT_WORKFLOW_SEARCH_ATTRIBUTES/.test(
        name,
      )
    )
      steps.push(name);
  }
  return steps.join(' ');
}

/**
 * Writes the history of every closed run on the task queue into `dir`, one file per distinct
 * shape (`<workflow type>-<shape hash>.binpb`, the History protobuf: the SDK's JSON converter
 * trips over the two protobufjs copies npm installs for @temporalio/common and /proto), for the replay test (test/replay). Files already
 * there are kept: histories of older code are what a new version must still replay.
 */
export async function recordHistories(client: Client, taskQueue: string, dir: string): Promise<number> {
  mkdirSync(dir, { recursive: true });
  // A workflow's id is not in its history, and replay needs it (child ids derive from it).
  const indexFile = path.join(dir, 'workflow-ids.json');
  const ids = existsSync(indexFile) ? (JSON.parse(readFileSync(indexFile, 'utf8')) as Record<string, string>) : {};
  let written = 0;
  for await (const execution of client.workflow.list({
    // The emergency queue's runs too: revokes that started a run, and the emergency thread's warm-up.
    query: `TaskQueue IN ("${taskQueue}", "${emergencyTaskQueue(taskQueue)}") AND ExecutionStatus != "Running"`,
  })) {
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    const hash = createHash('sha256').update(historyShape(history)).digest('hex').slice(0, 10);
    const file = path.join(dir, `${execution.type}-${hash}.binpb`);
    if (existsSync(file)) continue;
    writeFileSync(file, temporal.api.history.v1.History.encode(history).finish());
    ids[path.basename(file)] = execution.workflowId;
    written += 1;
  }
  if (written) writeFileSync(indexFile, `${JSON.stringify(Object.fromEntries(Object.entries(ids).sort()), null, 2)}\n`);
  return written;
}
