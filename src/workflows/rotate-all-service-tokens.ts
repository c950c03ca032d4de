import { continueAsNew, log, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { CloudflareActivities, LocalActivities } from '../activities';
import type { ManagedTokenRef } from '../activities/service-token-inventory';
import { rotateAllPaced, rotateOne, type FanOutCarried, type FanOutOutcome, type PacedOptions } from './fan-out';
import type { RotationMode } from './rotation/rotate-service-token';
import type { Trigger } from './triggers';
import { cloudflareQueue } from './lanes';
import { cloudflareCalls, historyWrites } from './activity-options';

/** Rotations started at once by runs recorded before the fan-out was paced by the budget. */
export const DEFAULT_BATCH_SIZE = 5;

/**
 * A run stops starting rotations past this many history events, lets the running ones end and
 * continues as new with the rest. Each rotation adds about six events to the fan-out's history;
 * a whole fleet's history (14,000 events for 2,000 tokens) took longer to replay than a workflow
 * task may take, and the run stalled, replayed by one worker after another.
 */
export const FAN_OUT_EVENTS_PER_RUN = 3_000;

export interface RotateAllInput {
  trigger: Trigger;
  /** Only for runs recorded before the fan-out was paced by the budget. */
  batchSize?: number;
  /** Set by the run this one continues: the tokens still to rotate and what was done so far. */
  continued?: FanOutCarried & { tokens: ManagedTokenRef[] };
  /** Tests lower it to see continue-as-new on a small fleet. */
  eventsPerRun?: number;
}

export type { FanOutOutcome };

const records = proxyActivities<LocalActivities>(historyWrites);

/**
 * Before the fan-out was paced by the Cloudflare budget: `batchSize` at a time. Kept for runs
 * recorded by that code, which replay through it.
 */
export async function rotateTokens(
  tokens: ManagedTokenRef[],
  mode: RotationMode,
  trigger: Trigger,
  batchSize: number,
): Promise<FanOutOutcome[]> {
  const outcomes: FanOutOutcome[] = [];
  for (let start = 0; start < tokens.length; start += batchSize) {
    const batch = tokens.slice(start, start + batchSize);
    outcomes.push(...(await Promise.all(batch.map((token) => rotateOne(token, mode, trigger)))));
  }
  return outcomes;
}

/** Every token, paced by the budget; runs recorded before that keep their batches. */
export async function rotateMany(
  tokens: ManagedTokenRef[],
  mode: RotationMode,
  trigger: Trigger,
  batchSize: number | undefined,
): Promise<FanOutOutcome[]> {
  return patched('fan-out-paced-by-budget')
    ? (await rotateAllPaced(tokens, mode, trigger)).outcomes
    : rotateTokens(tokens, mode, trigger, batchSize ?? DEFAULT_BATCH_SIZE);
}

/** The monthly rotation of every managed service token (the seed's CronJob, `0 2 1 * *`). */
export async function rotateAllServiceTokens(input: RotateAllInput): Promise<FanOutOutcome[]> {
  const { workflowId, runId } = workflowInfo();
  const inventory = proxyActivities<CloudflareActivities>({
    ...cloudflareCalls,
    taskQueue: cloudflareQueue('scheduled'),
  });
  let outcomes: FanOutOutcome[];
  if (input.continued) {
    // 2. fan out, continued: the audit row and the inventory are the first run's.
    const { tokens, ...carried } = input.continued;
    const paced = await rotateAllPaced(tokens, 'scheduled', input.trigger, { carried, ...pauseForHistory(input) });
    if (paced.notStarted.length) return continueWith(input, paced.notStarted, paced);
    outcomes = paced.outcomes;
  } else {
    // 1. audit
    await records.recordAudit({
      actor: input.trigger.actor,
      action: 'rotate-all',
      subject: 'service-tokens',
      workflowId,
      runId,
    });
    // 2. fan out
    const tokens = await inventory.listManagedServiceTokens();
    if (patched('fan-out-continues-as-new')) {
      const paced = await rotateAllPaced(tokens, 'scheduled', input.trigger, pauseForHistory(input));
      if (paced.notStarted.length) return continueWith(input, paced.notStarted, paced);
      outcomes = paced.outcomes;
    } else outcomes = await rotateMany(tokens, 'scheduled', input.trigger, input.batchSize);
  }
  log.info('monthly rotation finished', {
    completed: outcomes.filter((o) => o.outcome === 'completed').length,
    failed: outcomes.filter((o) => o.outcome === 'failed').map((o) => o.tokenName),
    joined: outcomes.filter((o) => o.outcome === 'joined-running').map((o) => o.tokenName),
  });
  return outcomes;
}

function pauseForHistory(input: RotateAllInput): PacedOptions {
  const limit = input.eventsPerRun ?? FAN_OUT_EVENTS_PER_RUN;
  return { shouldPause: () => workflowInfo().historyLength >= limit || workflowInfo().continueAsNewSuggested };
}

function continueWith(input: RotateAllInput, tokens: ManagedTokenRef[], done: FanOutCarried): Promise<never> {
  log.info('fan-out continues as new', { rotated: done.outcomes.length, remaining: tokens.length });
  return continueAsNew<typeof rotateAllServiceTokens>({
    trigger: input.trigger,
    ...(input.eventsPerRun ? { eventsPerRun: input.eventsPerRun } : {}),
    continued: { tokens, outcomes: done.outcomes, startedAt: done.startedAt, concurrency: done.concurrency },
  });
}
