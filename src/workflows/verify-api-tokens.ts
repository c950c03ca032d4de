import { proxyActivities, workflowInfo, log } from '@temporalio/workflow';
import type { CloudflareActivities, LocalActivities } from '../activities';
import { laneOfTrigger, type Trigger } from './triggers';
import { cloudflareQueue } from './lanes';
import { cloudflareCalls, historyWrites } from './activity-options';

export interface VerifyApiTokensInput {
  trigger: Trigger;
}

export type VerifyApiTokensResult = {
  overallHealth: 'healthy' | 'unhealthy';
  tokens: Awaited<ReturnType<CloudflareActivities['verifyApiTokens']>>;
};

const { recordAudit, recordApiTokenCheck } = proxyActivities<LocalActivities>(historyWrites);

/** Verifies every configured Cloudflare API token and records the outcome. */
export async function verifyApiTokens(input: VerifyApiTokensInput): Promise<VerifyApiTokensResult> {
  const { workflowId, runId } = workflowInfo();
  const cloudflare = proxyActivities<CloudflareActivities>({
    ...cloudflareCalls,
    taskQueue: cloudflareQueue(laneOfTrigger(input.trigger)),
  });

  // 1. audit — who or what asked for this run
  await recordAudit({
    actor: input.trigger.actor,
    action: 'verify-api-tokens',
    subject: 'api-tokens',
    workflowId,
    runId,
    details: { reason: input.trigger.reason ?? null },
  });

  // 2. verify — each token through the endpoint of its kind
  const tokens = await cloudflare.verifyApiTokens();
  const overallHealth = tokens.every((token) => token.outcome === 'valid') ? 'healthy' : 'unhealthy';

  // 3. record — one history row per run
  await recordApiTokenCheck({
    runId,
    workflowId,
    kind: 'verify',
    triggeredBy: input.trigger.actor,
    overallHealth,
    autoHealAttempted: false,
    autoHealSuccess: null,
    results: tokens,
  });
  log.info('API tokens verified', {
    overallHealth,
    tokens: tokens.length,
    invalid: tokens.filter((t) => t.outcome !== 'valid').map((t) => t.name),
  });
  return { overallHealth, tokens };
}
