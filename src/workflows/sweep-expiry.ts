import { log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { CloudflareActivities, LocalActivities } from '../activities';
import { rotateMany, type FanOutOutcome } from './rotate-all-service-tokens';
import type { Trigger } from './triggers';
import { CLOUDFLARE_CALL_WITH_BUDGET_WAIT, cloudflareQueue } from './lanes';

const cloudflareCalls = {
  startToCloseTimeout: CLOUDFLARE_CALL_WITH_BUDGET_WAIT,
  retry: { initialInterval: '2s', backoffCoefficient: 2, maximumInterval: '1 minute', maximumAttempts: 10 },
} as const;
const historyWrites = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute' },
} as const;

export interface SweepExpiryInput {
  trigger: Trigger;
  batchSize?: number;
}

export interface SweepResult {
  refreshed: Array<{ tokenName: string; accountId: string; expiresAt: string | null }>;
  rotated: FanOutOutcome[];
}

const records = proxyActivities<LocalActivities>(historyWrites);

/**
 * Daily, cert-manager style: every managed token inside its `renewBefore` window is rotated
 * (a new secret, through the full rotation) or refreshed (same secret, later expiry), as its
 * inventory entry says.
 */
export async function sweepExpiry(input: SweepExpiryInput): Promise<SweepResult> {
  const { workflowId, runId } = workflowInfo();
  const cloudflare = proxyActivities<CloudflareActivities>({ ...cloudflareCalls, taskQueue: cloudflareQueue('scheduled') });
  // 1. audit
  await records.recordAudit({ actor: input.trigger.actor, action: 'sweep-expiry', subject: 'service-tokens', workflowId, runId });
  // 2. find what expires inside renewBefore
  const due = await cloudflare.findServiceTokensToRenew();
  // 3. refresh those that only need a later expiry
  const refreshed: SweepResult['refreshed'] = [];
  for (const token of due.filter((t) => t.action === 'refresh')) {
    const state = await cloudflare.refreshServiceToken({ accountId: token.accountId, tokenName: token.tokenName, tokenId: token.tokenId });
    refreshed.push({ tokenName: token.tokenName, accountId: token.accountId, expiresAt: state.expiresAt });
  }
  // 4. rotate the others, as many at once as the Cloudflare budget can carry
  const rotated = await rotateMany(
    due.filter((t) => t.action === 'rotate').map(({ accountId, tokenName }) => ({ accountId, tokenName })),
    'expiry',
    input.trigger,
    input.batchSize,
  );
  log.info('expiry sweep finished', { due: due.length, refreshed: refreshed.map((r) => r.tokenName), rotated: rotated.map((r) => `${r.tokenName}:${r.outcome}`) });
  return { refreshed, rotated };
}
