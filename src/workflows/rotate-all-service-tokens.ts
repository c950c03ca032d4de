import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, log, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { CloudflareActivities, LocalActivities } from '../activities';
import type { ManagedTokenRef } from '../activities/service-token-inventory';
import { rotationWorkflowId } from '../inventory';
import { CloudflareAccountId, TokenKind, TokenName, TriggeredBy } from '../temporal/search-attributes';
import { rotateServiceToken, type RotationMode } from './rotate-service-token';
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

/** Rotations started at once; the rest wait, so a large inventory never floods Cloudflare. */
export const DEFAULT_BATCH_SIZE = 5;

export interface RotateAllInput {
  trigger: Trigger;
  batchSize?: number;
}

export interface FanOutOutcome extends ManagedTokenRef {
  outcome: 'completed' | 'failed' | 'joined-running';
  detail?: string;
}

const records = proxyActivities<LocalActivities>(historyWrites);

/**
 * Starts one child rotation per token, `batchSize` at a time, each under the token's own
 * workflow id: a token already rotating is joined (left to the running rotation), never
 * rotated twice. One child's failure does not stop the others.
 */
export async function rotateTokens(tokens: ManagedTokenRef[], mode: RotationMode, trigger: Trigger, batchSize: number): Promise<FanOutOutcome[]> {
  const outcomes: FanOutOutcome[] = [];
  for (let start = 0; start < tokens.length; start += batchSize) {
    const batch = tokens.slice(start, start + batchSize);
    const results = await Promise.all(
      batch.map(async (token): Promise<FanOutOutcome> => {
        try {
          const child = await startChild(rotateServiceToken, {
            workflowId: rotationWorkflowId(token.accountId, token.tokenName),
            args: [{ accountId: token.accountId, tokenName: token.tokenName, mode, trigger }],
            parentClosePolicy: ParentClosePolicy.ABANDON,
            typedSearchAttributes: [
              { key: TokenName, value: token.tokenName },
              { key: CloudflareAccountId, value: token.accountId },
              { key: TokenKind, value: 'service-token' },
              { key: TriggeredBy, value: trigger.actor },
            ],
          });
          await child.result();
          return { ...token, outcome: 'completed' };
        } catch (error) {
          if (error instanceof WorkflowExecutionAlreadyStartedError) return { ...token, outcome: 'joined-running' };
          return { ...token, outcome: 'failed', detail: error instanceof Error ? error.message : String(error) };
        }
      }),
    );
    outcomes.push(...results);
  }
  return outcomes;
}

/** The monthly rotation of every managed service token (the seed's CronJob, `0 2 1 * *`). */
export async function rotateAllServiceTokens(input: RotateAllInput): Promise<FanOutOutcome[]> {
  const { workflowId, runId } = workflowInfo();
  const inventory = proxyActivities<CloudflareActivities>({ ...inventoryReads, taskQueue: cloudflareQueue('scheduled') });
  // 1. audit
  await records.recordAudit({ actor: input.trigger.actor, action: 'rotate-all', subject: 'service-tokens', workflowId, runId });
  // 2. fan out
  const tokens = await inventory.listManagedServiceTokens();
  const outcomes = await rotateTokens(tokens, 'scheduled', input.trigger, input.batchSize ?? DEFAULT_BATCH_SIZE);
  log.info('monthly rotation finished', { completed: outcomes.filter((o) => o.outcome === 'completed').length, failed: outcomes.filter((o) => o.outcome === 'failed').map((o) => o.tokenName), joined: outcomes.filter((o) => o.outcome === 'joined-running').map((o) => o.tokenName) });
  return outcomes;
}

