import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { log, ParentClosePolicy, startChild } from '@temporalio/workflow';
import type { CloudflareActivities } from '../activities';
import type { ApiTokenRenewalDue } from '../activities/api-token-renewal';
import { CloudflareAccountId, TokenKind, TokenName, TriggeredBy } from '../temporal/search-attributes';
import { failureMessage } from './failures';
import { rotateApiToken } from './rotation/rotate-api-token';
import type { Trigger } from './triggers';

export interface ApiTokenRenewal {
  accountId: string;
  tokenName: string;
  expiresOn: string | null;
  outcome: 'completed' | 'failed' | 'joined-running';
  detail?: string;
}

/**
 * The sweep's API-token half: every API token with `rotate:` inside its `renewBefore` gets a
 * successor (or a roll, as it says) before it dies, and one older than its `every` a new value, each as a child run under the token's own
 * workflow id, side by side; a rotation already running renews it anyway. One token's failure
 * holds up no other.
 */
export async function renewApiTokens(
  cloudflare: Pick<CloudflareActivities, 'findApiTokensToRenew'>,
  trigger: Trigger,
): Promise<ApiTokenRenewal[]> {
  const due = await cloudflare.findApiTokensToRenew();
  const renewals = await Promise.all(due.map((token) => renewOne(token, trigger)));
  log.info('API tokens renewed', { renewals: renewals.map((r) => `${r.tokenName}:${r.outcome}`) });
  return renewals;
}

async function renewOne(token: ApiTokenRenewalDue, trigger: Trigger): Promise<ApiTokenRenewal> {
  const about = { accountId: token.accountId, tokenName: token.tokenName, expiresOn: token.expiresOn };
  try {
    const child = await startChild(rotateApiToken, {
      workflowId: token.workflowId,
      args: [
        {
          accountId: token.accountId,
          tokenName: token.tokenName,
          mode: token.reason === 'every' ? 'scheduled' : 'expiry',
          trigger,
        },
      ],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      typedSearchAttributes: [
        { key: TokenName, value: token.tokenName },
        { key: CloudflareAccountId, value: token.accountId },
        { key: TokenKind, value: 'api-token' },
        { key: TriggeredBy, value: trigger.actor },
      ],
    });
    await child.result();
    return { ...about, outcome: 'completed' };
  } catch (error) {
    if (error instanceof WorkflowExecutionAlreadyStartedError) return { ...about, outcome: 'joined-running' };
    return { ...about, outcome: 'failed', detail: failureMessage(error) };
  }
}
