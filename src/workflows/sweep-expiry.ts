import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { log, ParentClosePolicy, patched, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { CloudflareActivities, LocalActivities } from '../activities';
import type { RenewalDue } from '../activities/service-token-inventory';
import { rotationWorkflowId } from '../inventory';
import { serviceTokenAttributes } from '../temporal/search-attributes';
import { rotateMany, type FanOutOutcome } from './rotate-all-service-tokens';
import { refreshServiceToken, type RefreshResult } from './refresh-service-token';
import type { RotationResult } from './rotation/rotate-service-token';
import type { Trigger } from './triggers';
import { cloudflareQueue } from './lanes';
import { cloudflareCalls, historyWrites } from './activity-options';
import { failureMessage, failureSummary } from './failures';
import { renewApiTokens, type ApiTokenRenewal } from './sweep-api-tokens';

/** Patch: refreshes run as child workflows under each token's own id, side by side (runs recorded before refresh in the sweep, one after the other). */
const REFRESH_UNDER_TOKEN_ID = 'sweep-refreshes-under-token-id';
/** Patch: the sweep renews API tokens with `rotate:` inside their `renewBefore` too (runs recorded before renewed service tokens only). */
const RENEWS_API_TOKENS = 'sweep-renews-api-tokens';

export interface SweepExpiryInput {
  trigger: Trigger;
  batchSize?: number;
}

export interface RefreshNotDone {
  tokenName: string;
  accountId: string;
  detail: string;
}

export interface SweepResult {
  refreshed: Array<{ tokenName: string; accountId: string; expiresAt: string | null }>;
  /** Refreshes that failed for good; the other tokens were refreshed regardless. */
  refreshFailed?: RefreshNotDone[];
  /** Tokens left to what ran under their id: a rotation (which renews them too) or an emergency revoke. */
  refreshSkipped?: RefreshNotDone[];
  rotated: FanOutOutcome[];
  /** API tokens renewed by a successor (runs since `sweep-renews-api-tokens`). */
  apiTokens?: ApiTokenRenewal[];
}

type Refreshes = Pick<SweepResult, 'refreshed'> & Required<Pick<SweepResult, 'refreshFailed' | 'refreshSkipped'>>;

const records = proxyActivities<LocalActivities>(historyWrites);

/**
 * Daily, cert-manager style: every managed token inside its `renewBefore` window is rotated
 * (a new secret, through the full rotation) or refreshed (same secret, later expiry), as its
 * inventory entry says. One token's failure holds up no other.
 */
export async function sweepExpiry(input: SweepExpiryInput): Promise<SweepResult> {
  const { workflowId, runId } = workflowInfo();
  const cloudflare = proxyActivities<CloudflareActivities>({
    ...cloudflareCalls,
    taskQueue: cloudflareQueue('scheduled'),
  });
  // 1. audit
  await records.recordAudit({
    actor: input.trigger.actor,
    action: 'sweep-expiry',
    subject: 'service-tokens',
    workflowId,
    runId,
  });
  // 2. find what expires inside renewBefore
  const due = await cloudflare.findServiceTokensToRenew();
  const toRefresh = due.filter((t) => t.action === 'refresh');
  const toRotate = due
    .filter((t) => t.action === 'rotate')
    .map(({ accountId, tokenName }) => ({ accountId, tokenName }));
  let result: SweepResult;
  if (patched(REFRESH_UNDER_TOKEN_ID)) {
    // 3. refresh those that only need a later expiry, and 4. rotate the others, as many at once
    // as the Cloudflare budget can carry; every token on its own, under its own workflow id.
    const [refreshes, rotated] = await Promise.all([
      refreshEach(toRefresh, input.trigger),
      rotateMany(toRotate, 'expiry', input.trigger, input.batchSize),
    ]);
    result = { ...refreshes, rotated };
  } else {
    const refreshed = await refreshInTurn(cloudflare, toRefresh);
    result = { refreshed, rotated: await rotateMany(toRotate, 'expiry', input.trigger, input.batchSize) };
  }
  // 5. API tokens with rotate: inside their renewBefore get a successor before they die
  if (patched(RENEWS_API_TOKENS)) result.apiTokens = await renewApiTokens(cloudflare, input.trigger);
  log.info('expiry sweep finished', {
    due: due.length,
    refreshed: result.refreshed.map((r) => r.tokenName),
    refreshFailed: result.refreshFailed?.map((r) => r.tokenName) ?? [],
    refreshSkipped: result.refreshSkipped?.map((r) => r.tokenName) ?? [],
    rotated: result.rotated.map((r) => `${r.tokenName}:${r.outcome}`),
  });
  return result;
}

/** Runs recorded before REFRESH_UNDER_TOKEN_ID: one refresh after the other, in the sweep; the first failure fails the sweep. */
async function refreshInTurn(
  cloudflare: CloudflareActivities,
  tokens: RenewalDue[],
): Promise<SweepResult['refreshed']> {
  const refreshed: SweepResult['refreshed'] = [];
  for (const token of tokens) {
    const state = await cloudflare.refreshServiceToken({
      accountId: token.accountId,
      tokenName: token.tokenName,
      tokenId: token.tokenId,
    });
    refreshed.push({ tokenName: token.tokenName, accountId: token.accountId, expiresAt: state.expiresAt });
  }
  return refreshed;
}

async function refreshEach(tokens: RenewalDue[], trigger: Trigger): Promise<Refreshes> {
  const outcomes: Refreshes = { refreshed: [], refreshFailed: [], refreshSkipped: [] };
  await Promise.all(
    tokens.map(async (token) => {
      const outcome = await refreshOne(token, trigger);
      if ('expiresAt' in outcome) outcomes.refreshed.push(outcome);
      else outcomes[outcome.kind].push(outcome.notDone);
    }),
  );
  return outcomes;
}

/**
 * One refresh, as a child run under the token's workflow id: refused while a rotation of the
 * token runs (the rotation renews it anyway), and turned into the emergency rotation by a
 * revoke that arrives meanwhile.
 */
async function refreshOne(
  token: RenewalDue,
  trigger: Trigger,
): Promise<RefreshResult | { kind: 'refreshFailed' | 'refreshSkipped'; notDone: RefreshNotDone }> {
  const about = { tokenName: token.tokenName, accountId: token.accountId };
  try {
    const child = await startChild(refreshServiceToken, {
      workflowId: rotationWorkflowId(token.accountId, token.tokenName),
      args: [{ accountId: token.accountId, tokenName: token.tokenName, tokenId: token.tokenId, trigger }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: serviceTokenAttributes(token, trigger.actor),
    });
    // A revoke during the refresh continues the child as the emergency rotation: its result is the rotation's.
    const result: RefreshResult | RotationResult = await child.result();
    if ('expiresAt' in result) return result;
    return {
      kind: 'refreshSkipped',
      notDone: { ...about, detail: 'an emergency revoke arrived during the refresh and rotated the token instead' },
    };
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError)
      return { kind: 'refreshSkipped', notDone: { ...about, detail: 'a rotation of this token is running' } };
    log.error('refresh failed', { token: token.tokenName, error: failureSummary(error) });
    return { kind: 'refreshFailed', notDone: { ...about, detail: failureMessage(error) } };
  }
}
