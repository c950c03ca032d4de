import { ParentClosePolicy, log, proxyActivities, startChild, workflowInfo } from '@temporalio/workflow';
import type { CloudflareActivities, LocalActivities } from '../activities';
import type { NotifyChannel } from '../activities/notify';
import type { TokenSubject } from '../activities/token-subject';
import { checkLines, healLines, recommendationLines, runStartLines } from '../health/cron-output';
import { evaluateToken, overallHealth, type HealOutcome, type TokenHealth } from '../health/evaluate';
import { mayManageTokens, PermissionCatalogue } from '../health/permissions';
import { notificationReasons, recommendations, type TokenHealthReport } from '../health/report';
import { evaluateSelfAudit } from '../health/self-audit';
import type { InventoryTokenRef, TokenIdentity, TokenObservation } from '../health/types';
import { describeFailure, healToken } from './heal-token';
import { laneOfTrigger, type Trigger } from './triggers';
import { CLOUDFLARE_CALL_WITH_BUDGET_WAIT, cloudflareQueue } from './lanes';
import {
  healthNotifications as notifications,
  healthReads as cloudflareReads,
  healthUpdates as cloudflareUpdates,
  historyWrites,
  localWork,
} from './activity-options';
import { observeTokens, type CheckStep } from './token-health-observe';

export interface CheckTokenHealthInput {
  trigger: Trigger;
  /** Heal: add missing permissions to valid, active tokens (the seed's auto_heal). */
  autoHeal?: boolean;
  /** With autoHeal: report what heal would add, change nothing. */
  dryRun?: boolean;
  /** Set by the schedules, for the seed's "Scheduled task started … for cron" line. */
  cron?: string;
}

const { recordAudit, prepareTokenHealthRun, rememberTokenIdentities } = proxyActivities<LocalActivities>(localWork);
const { recordTokenHealth } = proxyActivities<LocalActivities>(historyWrites);

/**
 * check → heal → verify over every API token of the inventory, and a self-audit of the token
 * token-warden runs on. One run is one history row; its log reads like the seed's cron output.
 */
export async function checkTokenHealth(input: CheckTokenHealthInput): Promise<TokenHealthReport> {
  const { workflowId, runId } = workflowInfo();
  // A scheduled check waits behind an operator's requests in the Cloudflare budget; an API check does not.
  const lane = cloudflareQueue(laneOfTrigger(input.trigger));
  const withBudgetWait = { startToCloseTimeout: CLOUDFLARE_CALL_WITH_BUDGET_WAIT, taskQueue: lane };
  const cloudflare = proxyActivities<CloudflareActivities>({ ...cloudflareReads, ...withBudgetWait });
  const cloudflareWrites = proxyActivities<CloudflareActivities>({ ...cloudflareUpdates, ...withBudgetWait });
  const autoHeal = input.autoHeal ?? false;
  const dryRun = autoHeal && (input.dryRun ?? false);
  const timestamp = new Date().toISOString();
  for (const line of runStartLines({
    timestamp,
    cron: input.cron ?? null,
    autoHeal,
    dryRun,
    triggeredBy: input.trigger.actor,
  }))
    log.info(line);

  // 1. audit — who or what asked for this run
  await recordAudit({
    actor: input.trigger.actor,
    action: 'check-token-health',
    subject: 'api-tokens',
    workflowId,
    runId,
    details: { reason: input.trigger.reason ?? null, autoHeal, dryRun },
  });

  // 2. plan — the inventory's tokens and what earlier runs learnt about them
  const plan = await prepareTokenHealthRun();
  const cachedFor = (subject: string): TokenIdentity | null =>
    plan.identities.find((i) => i.subject === subject) ?? null;
  const subjectOf = (ref: InventoryTokenRef): TokenSubject => ({
    source: 'inventory',
    accountId: ref.accountId,
    name: ref.name,
  });
  const keyOf = (ref: InventoryTokenRef) => `${ref.accountId}/${ref.name}`;

  // 3. check — one permission-group listing for the whole run; every token (and token-warden's own) at once
  const checking: CheckStep = { plan, cloudflare, cachedFor, subjectOf, keyOf };
  const [listing, observations, wardenObservation] = await observeTokens(checking);
  const catalogue = listing.groups ? new PermissionCatalogue(listing.groups) : null;
  const now = Date.now();
  const context = { catalogue, now, baseURL: plan.baseURL };
  const checked = plan.tokens.map((ref, i) => evaluateToken(ref, observationAt(observations, i), context));
  const selfAudit = evaluateSelfAudit(wardenObservation, plan.wardenNeeds, { catalogue, now });
  const checkedHealth = overallHealth(checked);
  for (const line of checkLines(checkedHealth, checked)) log.info(line);

  // 4. heal → verify — only when asked, only valid and active tokens, only adding
  let tokens: TokenHealth[] = checked;
  let heal: HealOutcome[] | null = null;
  if (autoHeal) {
    const healed = await Promise.all(
      plan.tokens.map((ref, i) => {
        const token = checked[i];
        if (!token) throw new Error('token result out of step with the inventory');
        return healToken({
          ref,
          token,
          observation: observationAt(observations, i),
          catalogue,
          wardenObservation,
          selfAudit,
          dryRun,
          context,
          cloudflare,
          cloudflareWrites,
          subject: subjectOf(ref),
        });
      }),
    );
    heal = healed.map((h) => h.outcome);
    tokens = healed.map((h) => h.token);
  }

  // 5. remember — token ids and who may read itself, so the next run spends one call per token
  const identities = plan.tokens.flatMap((ref, i) =>
    identityOf(
      keyOf(ref),
      observationAt(observations, i),
      ref.kind,
      { kind: ref.kind, accountId: ref.accountId },
      catalogue,
    ),
  );
  if (wardenObservation.kind)
    identities.push(
      ...identityOf(
        'token-warden',
        wardenObservation,
        wardenObservation.kind,
        { kind: wardenObservation.kind, accountId: plan.firstAccountId ?? '' },
        catalogue,
      ),
    );
  await rememberTokenIdentities(identities);

  // 6. record — one history row per run
  const body = {
    workflowId,
    runId,
    timestamp,
    triggeredBy: input.trigger.actor,
    autoHeal,
    dryRun,
    checkedHealth,
    overallHealth: overallHealth(tokens),
    tokens,
    heal,
    selfAudit,
    catalogueProblem: listing.problem,
  };
  const report: TokenHealthReport = { ...body, recommendations: recommendations(body) };
  await recordTokenHealth(report);
  for (const line of [...(heal ? healLines(checked, heal) : []), ...recommendationLines(report.recommendations)])
    log.info(line);

  // 7. notify — degraded, unhealthy, expiring, failed heals; in a child run that outlives this one
  const reasons = notificationReasons(report);
  if (reasons.length > 0 && plan.notifyChannels.length > 0) {
    await startChild(notifyTokenHealth, {
      workflowId: `${workflowId}/notify/${runId}`,
      args: [{ report, reasons, channels: plan.notifyChannels }],
      parentClosePolicy: ParentClosePolicy.ABANDON,
    });
  }
  return report;
}

function observationAt(observations: readonly TokenObservation[], index: number): TokenObservation {
  const observation = observations[index];
  if (!observation) throw new Error('observation out of step with the inventory');
  return observation;
}

function identityOf(
  subject: string,
  observation: TokenObservation,
  holderKind: InventoryTokenRef['kind'],
  self: { kind: InventoryTokenRef['kind']; accountId: string },
  catalogue: PermissionCatalogue | null,
): TokenIdentity[] {
  if (!observation.fingerprint || !observation.tokenId || !observation.kind) return [];
  const selfReadable =
    observation.accepted === true &&
    observation.snapshot !== null &&
    catalogue !== null &&
    mayManageTokens(observation.snapshot.policies, 'read', self, holderKind, catalogue);
  return [
    {
      subject,
      fingerprint: observation.fingerprint,
      tokenId: observation.tokenId,
      kind: observation.kind,
      selfReadable,
    },
  ];
}

/** Sends one run's notification to every configured channel, each retried on its own. */
export async function notifyTokenHealth(input: {
  report: TokenHealthReport;
  reasons: string[];
  channels: NotifyChannel[];
}): Promise<void> {
  const { notifyTokenHealth: send } = proxyActivities<LocalActivities>(notifications);
  const results = await Promise.allSettled(
    input.channels.map((channel) => send({ channel, report: input.report, reasons: input.reasons })),
  );
  results.forEach((result, i) => {
    if (result.status === 'rejected')
      log.warn('token health notification failed', {
        channel: input.channels[i],
        error: describeFailure(result.reason),
      });
  });
}
