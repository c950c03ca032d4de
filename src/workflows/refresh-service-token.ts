import { condition, log, makeContinueAsNewFunc, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type { CloudflareActivities } from '../activities';
import { cloudflareQueue } from './lanes';
import { cloudflareCalls } from './activity-options';
import { emergencyRevokeSignal, type EmergencyRevokeRequest } from './rotation/messages';
import type { rotateServiceToken } from './rotation/rotate-service-token';
import { emergencyTaskQueue, mainTaskQueueOf, type Trigger } from './triggers';

export interface RefreshServiceTokenInput {
  accountId: string;
  tokenName: string;
  tokenId: string;
  trigger: Trigger;
}

export interface RefreshResult {
  tokenName: string;
  accountId: string;
  expiresAt: string | null;
}

/**
 * The expiry sweep's lighter renewal of one service token: same secret, later expiry. It runs
 * under the token's own workflow id `rotate/<account>/<token>`, so it never races a rotation of
 * the token (one runs, the other is refused) — and so an emergency revoke signalled to that id
 * while it runs reaches it: the refresh is dropped and the run continues as the emergency
 * rotation, under the same id, at once.
 */
export async function refreshServiceToken(input: RefreshServiceTokenInput): Promise<RefreshResult> {
  let revoke: EmergencyRevokeRequest | undefined;
  setHandler(emergencyRevokeSignal, (request) => {
    revoke ??= request;
  });
  const cloudflare = proxyActivities<CloudflareActivities>({
    ...cloudflareCalls,
    taskQueue: cloudflareQueue('scheduled'),
  });
  const refreshing = cloudflare.refreshServiceToken({
    accountId: input.accountId,
    tokenName: input.tokenName,
    tokenId: input.tokenId,
  });
  const state = await Promise.race([refreshing, condition(() => revoke !== undefined).then(() => null)]);
  if (revoke) {
    log.warn('emergency revoke during a refresh: continuing as the emergency rotation', {
      token: input.tokenName,
      actor: revoke.actor,
    });
    // On the emergency queue, like a revoke the API starts: away from routine work's backlog.
    const rotateNow = makeContinueAsNewFunc<typeof rotateServiceToken>({
      workflowType: 'rotateServiceToken',
      taskQueue: emergencyTaskQueue(mainTaskQueueOf(workflowInfo().taskQueue)),
    });
    return rotateNow({
      accountId: input.accountId,
      tokenName: input.tokenName,
      mode: 'emergency',
      trigger: { actor: revoke.actor, reason: revoke.reason },
    });
  }
  return { tokenName: input.tokenName, accountId: input.accountId, expiresAt: state?.expiresAt ?? null };
}
