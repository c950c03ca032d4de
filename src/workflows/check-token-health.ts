import {
  ActivityFailure,
  ParentClosePolicy,
  log,
  patched,
  proxyActivities,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { CloudflareActivities, LocalActivities } from '../activities';
import type { PermissionGroupListing, TokenHealthRunPlan, TokenSubject } from '../activities/token-health';
import { checkLines, healLines, recommendationLines, runStartLines } from '../health/cron-output';
import { evaluateToken, overallHealth, type HealOutcome, type TokenHealth } from '../health/evaluate';
import { lostPolicies, planHeal } from '../health/heal-plan';
import {
  mayManageTokens,
  PermissionCatalogue,
  permissionKey,
  tokensWriteGroupName,
  userResourceKeyIn,
} from '../health/permissions';
import { notificationReasons, recommendations, type TokenHealthReport } from '../health/report';
import { evaluateSelfAudit, type SelfAudit } from '../health/self-audit';
import { observationSources } from '../health/shared-values';
import type {
  Credential,
  InventoryTokenRef,
  PermissionGroupInfo,
  TokenIdentity,
  TokenObservation,
} from '../health/types';
import { laneOfTrigger, type Trigger } from './triggers';
import { CLOUDFLARE_CALL_WITH_BUDGET_WAIT, cloudflareQueue } from './lanes';
import {
  healthNotifications as notifications,
  healthReads as cloudflareReads,
  healthUpdates as cloudflareUpdates,
  historyWrites,
  localWork,
} from './activity-options';

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

const describeFailure = (error: unknown): string => {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  return cause instanceof Error ? cause.message : 'unknown failure';
};

/** An observation for a token whose check failed after every retry: it counts as not checked. */
const unreachable = (error: unknown, kind: TokenObservation['kind']): TokenObservation => ({
  fingerprint: null,
  secret: 'present',
  secretSource: '',
  tokenId: null,
  accepted: null,
  verified: null,
  refusal: { httpStatus: null, message: describeFailure(error) },
  snapshot: null,
  readVia: null,
  readProblem: null,
  kind,
});

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
  const [listing, observations, wardenObservation] = patched(OBSERVE_EACH_VALUE_ONCE)
    ? await observeEachValueOnce(checking)
    : await observeEveryEntry(checking);
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

/** Runs that started after this patch observe each distinct token value once (see observationSources). */
const OBSERVE_EACH_VALUE_ONCE = 'token-health-observe-each-value-once';

interface CheckStep {
  plan: TokenHealthRunPlan;
  cloudflare: CloudflareActivities;
  cachedFor: (subject: string) => TokenIdentity | null;
  subjectOf: (ref: InventoryTokenRef) => TokenSubject;
  keyOf: (ref: InventoryTokenRef) => string;
}

type Checked = [PermissionGroupListing, TokenObservation[], TokenObservation];

const observeToken = (
  { cloudflare, cachedFor, subjectOf, keyOf }: CheckStep,
  ref: InventoryTokenRef,
): Promise<TokenObservation> =>
  cloudflare
    .observeApiToken({
      subject: subjectOf(ref),
      kind: ref.kind,
      accountId: ref.accountId,
      configuredId: ref.configuredId,
      cached: cachedFor(keyOf(ref)),
    })
    .catch((error: unknown) => unreachable(error, ref.kind));

const observeWarden = ({ cloudflare, cachedFor, plan }: CheckStep): Promise<TokenObservation> =>
  cloudflare
    .observeApiToken({
      subject: { source: 'warden' },
      kind: null,
      accountId: plan.firstAccountId,
      configuredId: null,
      cached: cachedFor('token-warden'),
    })
    .catch((error: unknown) => unreachable(error, null));

/** The check as runs recorded before OBSERVE_EACH_VALUE_ONCE made it: every entry and token-warden's own token read apart. */
async function observeEveryEntry(step: CheckStep): Promise<Checked> {
  return Promise.all([
    step.cloudflare
      .listPermissionGroups({ accountId: step.plan.firstAccountId })
      .catch((error: unknown) => ({ groups: null, problem: describeFailure(error) })),
    Promise.all(step.plan.tokens.map((ref) => observeToken(step, ref))),
    observeWarden(step),
  ]);
}

/**
 * The check with one read per distinct value: an entry holding the same value as an earlier
 * one, and token-warden's own token when it is one of the inventory's, use that token's
 * observation, so the self-audit costs no request of its own. The listing goes straight to
 * the account's when the cache knows token-warden's token is account-owned.
 */
async function observeEachValueOnce(step: CheckStep): Promise<Checked> {
  const { plan } = step;
  const sources = observationSources(plan.tokens, plan.fingerprints);
  const [listing, own, apart] = await Promise.all([
    step.cloudflare
      .listPermissionGroups({
        accountId: plan.firstAccountId,
        wardenKind: step.cachedFor('token-warden')?.kind ?? null,
      })
      .catch((error: unknown) => ({ groups: null, problem: describeFailure(error) })),
    Promise.all(plan.tokens.map((ref, i) => (sources.tokens[i] === i ? observeToken(step, ref) : null))),
    sources.warden === null ? observeWarden(step) : null,
  ]);
  const observations = plan.tokens.map((_, i) => {
    const observation = own[sources.tokens[i] ?? i];
    if (!observation) throw new Error('observation out of step with the inventory');
    return observation;
  });
  if (apart) return [listing, observations, apart];
  const shared = sources.warden === null ? undefined : observations[sources.warden];
  // The value may have changed between the plan and the read (a deploy rotating secrets): then
  // the observation is not of token-warden's token, which is read on its own after all.
  const same = shared && (shared.fingerprint === null || shared.fingerprint === plan.fingerprints?.warden);
  return [listing, observations, same ? shared : await observeWarden(step)];
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

interface HealInput {
  ref: InventoryTokenRef;
  subject: TokenSubject;
  token: TokenHealth;
  observation: TokenObservation;
  catalogue: PermissionCatalogue | null;
  wardenObservation: TokenObservation;
  selfAudit: SelfAudit;
  dryRun: boolean;
  context: { catalogue: PermissionCatalogue | null; now: number; baseURL: string };
  cloudflare: CloudflareActivities;
  cloudflareWrites: CloudflareActivities;
}

const NOT_HEALABLE: Record<string, string> = {
  denied: 'a deny policy blocks it; heal never edits or removes policies',
  unknown: 'no permission group of that name exists',
  unavailable: 'only user tokens can hold it',
};

/** Heal one token and verify the result by reading it back. Returns the token as it now is. */
async function healToken(input: HealInput): Promise<{ outcome: HealOutcome; token: TokenHealth }> {
  const { ref, token, observation, catalogue } = input;
  const outcome: HealOutcome = {
    accountId: ref.accountId,
    name: ref.name,
    kind: ref.kind,
    tokenId: token.tokenId,
    success: false,
    dryRun: input.dryRun,
    updated: false,
    via: null,
    permissionsAdded: [],
    permissionsAlreadyPresent: [],
    wouldAdd: [],
    notAdded: [],
    message: '',
  };
  const fail = (message: string) => ({ outcome: { ...outcome, success: false, message }, token });
  if (token.state === 'unhealthy')
    return fail(
      `Cannot heal: the token is invalid or inactive (${token.problem ?? 'unknown reason'}); auto-heal cannot fix invalid, revoked or expired tokens`,
    );
  const snapshot = observation.snapshot;
  if (!snapshot || !catalogue || !token.tokenId)
    return fail(`Cannot heal: ${token.problem ?? 'its permissions could not be read'}`);

  const missing: PermissionGroupInfo[] = token.requirements.flatMap((r) => {
    const group = r.state === 'missing' && r.groupId ? catalogue.byGroupId(r.groupId) : undefined;
    return group ? [group] : [];
  });
  const notAdded = token.requirements
    .filter((r) => NOT_HEALABLE[r.state])
    .map((r) => ({ permission: r.permission, reason: NOT_HEALABLE[r.state] ?? r.state }));
  const wardenUserKey =
    input.wardenObservation.kind === 'user'
      ? userResourceKeyIn(input.wardenObservation.snapshot?.policies ?? [])
      : null;
  const healContext = {
    kind: ref.kind,
    accountId: ref.accountId,
    userResourceKey: userResourceKeyIn(snapshot.policies) ?? wardenUserKey,
  };
  const preview = planHeal(snapshot.policies, missing, healContext);
  const byGroupName = new Map(token.requirements.map((r) => [r.groupId, r.permission]));
  notAdded.push(
    ...preview.blocked.map((b) => ({ permission: byGroupName.get(b.group.id) ?? b.group.name, reason: b.reason })),
  );
  const notAddedText = notAdded.map((n) => `${n.permission} (${n.reason})`).join(', ');
  outcome.notAdded = notAdded;

  if (input.dryRun) {
    const wouldAdd = preview.added.map(permissionKey);
    return {
      outcome: {
        ...outcome,
        success: notAdded.length === 0,
        wouldAdd,
        message: `Dry run: would add ${wouldAdd.length} missing permissions${notAdded.length ? `; cannot add ${notAddedText}` : ''}`,
      },
      token,
    };
  }
  if (preview.added.length === 0) {
    return notAdded.length
      ? fail(`Could not add ${notAddedText}`)
      : { outcome: { ...outcome, success: true, message: 'Successfully added 0 missing permissions' }, token };
  }

  // The token edits itself when it may (the seed's way); otherwise token-warden's own token does.
  const selfMayEdit = mayManageTokens(
    snapshot.policies,
    'write',
    { kind: ref.kind, accountId: ref.accountId },
    ref.kind,
    catalogue,
  );
  const warden = input.wardenObservation;
  const wardenMayEdit =
    input.selfAudit.isValid &&
    input.selfAudit.isActive &&
    warden.snapshot !== null &&
    warden.kind !== null &&
    mayManageTokens(
      warden.snapshot.policies,
      'write',
      { kind: ref.kind, accountId: ref.accountId },
      warden.kind,
      catalogue,
    );
  const via: Credential | null = selfMayEdit ? 'self' : wardenMayEdit ? 'warden' : null;
  const missingNames = preview.added.map((g) => byGroupName.get(g.id) ?? g.name).join(', ');
  if (!via) {
    const group = tokensWriteGroupName(ref.kind);
    return fail(
      `Neither the token nor token-warden's own token holds ${group}, so no one may edit it. Grant ${group} (${group.replace(/ Write$/, ': Edit')} in the dashboard) to one of them, or add ${missingNames} in the Cloudflare dashboard`,
    );
  }

  const where = { subject: input.subject, kind: ref.kind, accountId: ref.accountId, tokenId: token.tokenId };
  const applied = await input.cloudflareWrites
    .healApiToken({ ...where, via, snapshot, missing, userResourceKey: healContext.userResourceKey })
    .catch((error: unknown) => ({ failure: describeFailure(error) }));
  if ('failure' in applied)
    return fail(
      `The update failed: ${applied.failure}. Add ${missingNames} in the Cloudflare dashboard or run heal again`,
    );
  outcome.via = via;
  outcome.permissionsAlreadyPresent = applied.alreadyPresent.map(permissionKey);
  if (applied.refusal) {
    return fail(
      `Cloudflare refused the update (${applied.refusal.message}). Grant ${tokensWriteGroupName(ref.kind)} to ${via === 'self' ? 'the token' : "token-warden's own token"}, or add ${missingNames} in the Cloudflare dashboard`,
    );
  }
  outcome.updated = applied.updated;
  outcome.permissionsAdded = applied.added.map(permissionKey);

  // verify — read the token again: the added groups are granted and every earlier policy is intact
  const readBack = await input.cloudflare
    .readApiToken({ ...where, via })
    .catch((error: unknown) => ({ snapshot: null, problem: describeFailure(error) }));
  if (!readBack.snapshot)
    return {
      outcome: {
        ...outcome,
        success: false,
        message: `Updated, but the read-back failed (${readBack.problem ?? 'unknown'}); run the check again to confirm`,
      },
      token,
    };
  const after = evaluateToken(ref, { ...observation, snapshot: readBack.snapshot, readVia: via }, input.context);
  const keptEveryPolicy = lostPolicies(snapshot.policies, readBack.snapshot.policies).length === 0;
  const stillMissing = after.requirements.filter((r) => r.state === 'missing').map((r) => r.permission);
  if (!keptEveryPolicy)
    return {
      outcome: {
        ...outcome,
        success: false,
        message: 'Updated, but the read-back lost a policy the token had; check it in the Cloudflare dashboard',
      },
      token: after,
    };
  if (stillMissing.length)
    return {
      outcome: {
        ...outcome,
        success: false,
        message: `Updated, but ${stillMissing.join(', ')} still missing on read-back`,
      },
      token: after,
    };
  const added = outcome.permissionsAdded.length;
  const found = outcome.permissionsAlreadyPresent.length;
  // A retry after a lost answer finds the groups already there: the earlier attempt added them.
  const summary =
    found > 0
      ? `Successfully added ${added} missing permissions (${found} found already added by an earlier attempt)`
      : `Successfully added ${added} missing permissions`;
  return {
    outcome: {
      ...outcome,
      success: notAdded.length === 0,
      message: notAdded.length ? `Added ${added} missing permissions; could not add ${notAddedText}` : summary,
    },
    token: after,
  };
}

/** Sends one run's notification to every configured channel, each retried on its own. */
export async function notifyTokenHealth(input: {
  report: TokenHealthReport;
  reasons: string[];
  channels: Array<'webhook' | 'slack'>;
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
