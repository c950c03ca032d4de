import { log, patched, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { CloudflareActivities, LocalActivities } from '../activities';
import type { ManagedTokenRef } from '../activities/service-token-inventory';
import { rotateAllPaced, rotateOne, type FanOutOutcome } from './fan-out';
import type { RotationMode } from './rotate-service-token';
import type { Trigger } from './triggers';
import { CLOUDFLARE_CALL_WITH_BUDGET_WAIT, cloudflareQueue } from './lanes';

const inventoryReads = {
  startToCloseTimeout: CLOUDFLARE_CALL_WITH_BUDGET_WAIT,
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
} as const;
const historyWrites = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute' },
} as const;

/** Rotations started at once by runs recorded before the fan-out was paced by the budget. */
export const DEFAULT_BATCH_SIZE = 5;

export interface RotateAllInput {
  trigger: Trigger;
  /** Only for runs recorded before the fan-out was paced by the budget. */
  batchSize?: number;
}

export type { FanOutOutcome };

const records = proxyActivities<LocalActivities>(historyWrites);

/**
 * Before the fan-out was paced by the Cloudflare budget: `batchSize` at a time. Kept for runs
 * recorded by that code, which replay through it.
 */
export async function rotateTokens(tokens: ManagedTokenRef[], mode: RotationMode, trigger: Trigger, batchSize: number): Promise<FanOutOutcome[]> {
  const outcomes: FanOutOutcome[] = [];
  for (let start = 0; start < tokens.length; start += batchSize) {
    const batch = tokens.slice(start, start + batchSize);
    outcomes.push(...(await Promise.all(batch.map((token) => rotateOne(token, mode, trigger)))));
  }
  return outcomes;
}

/** Every token, paced by the budget; runs recorded before that keep their batches. */
export function rotateMany(tokens: ManagedTokenRef[], mode: RotationMode, trigger: Trigger, batchSize: number | undefined): Promise<FanOutOutcome[]> {
  return patched('fan-out-paced-by-budget') ? rotateAllPaced(tokens, mode, trigger) : rotateTokens(tokens, mode, trigger, batchSize ?? DEFAULT_BATCH_SIZE);
}

/** The monthly rotation of every managed service token (the seed's CronJob, `0 2 1 * *`). */
export async function rotateAllServiceTokens(input: RotateAllInput): Promise<FanOutOutcome[]> {
  const { workflowId, runId } = workflowInfo();
  const inventory = proxyActivities<CloudflareActivities>({ ...inventoryReads, taskQueue: cloudflareQueue('scheduled') });
  // 1. audit
  await records.recordAudit({ actor: input.trigger.actor, action: 'rotate-all', subject: 'service-tokens', workflowId, runId });
  // 2. fan out
  const tokens = await inventory.listManagedServiceTokens();
  const outcomes = await rotateMany(tokens, 'scheduled', input.trigger, input.batchSize);
  log.info('monthly rotation finished', { completed: outcomes.filter((o) => o.outcome === 'completed').length, failed: outcomes.filter((o) => o.outcome === 'failed').map((o) => o.tokenName), joined: outcomes.filter((o) => o.outcome === 'joined-running').map((o) => o.tokenName) });
  return outcomes;
}

