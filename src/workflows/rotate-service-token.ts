import {
  ActivityCancellationType,
  type ActivityOptions,
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { CloudflareActivities, LocalActivities } from '../activities';
import type { FailureType } from '../activities/failure-types';
import type { IssuedSecret, ResolvedServiceToken } from '../activities/service-tokens';
import type { PlannedTarget, RotationPlan } from '../activities/rotation-records';
import type { WriteReceipt } from '../stores/store-types';
import {
  CloudflareAccountId,
  RotationStrategy,
  TokenKind,
  TokenName,
  TriggeredBy,
} from '../temporal/search-attributes';
import type { Trigger } from './triggers';
import type { Lane } from '../cloudflare/budget/lanes';
import { CLOUDFLARE_CALL_WITH_BUDGET_WAIT, cloudflareQueue } from './lanes';
import {
  emergencyRevokeSignal,
  progressQuery,
  type EmergencyRevokeRequest,
  type RotationMode,
  type RotationProgress,
} from './rotation-messages';
import { RotationRecorder } from './rotation-recorder';
import {
  propagateInRounds,
  propagateUntilHeld,
  RECOVERY_WINDOW_MS,
  type HoldState,
  type PropagationIo,
} from './rotation-propagation';
import { allSettled, failureSummary, isFailure, iso } from './rotation-support';

export { emergencyRevokeSignal, progressQuery } from './rotation-messages';
export type { EmergencyRevokeRequest, RotationMode, RotationProgress, RotationStep } from './rotation-messages';

/**
 * Activities heartbeat while they run (src/activities/heartbeat.ts): one silent this long lost
 * its worker and is retried elsewhere, rather than after its whole start-to-close timeout.
 */
const WORKER_LOST_AFTER = '15s';
/** Cloudflare calls. Mutations retry only after the activity has read state back. */
const cloudflareCalls = {
  startToCloseTimeout: '30s',
  heartbeatTimeout: WORKER_LOST_AFTER,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 8 },
} as const;
/** After retire there is no way back: retry until Cloudflare answers. */
const retireCalls = {
  startToCloseTimeout: '30s',
  heartbeatTimeout: WORKER_LOST_AFTER,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute' },
} as const;
const storeWrites = {
  startToCloseTimeout: '1 minute',
  heartbeatTimeout: WORKER_LOST_AFTER,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 6 },
} as const;
/**
 * Store writes of runs since HISTORY_BESIDE_THE_WORK: a cancel waits for a write in flight to
 * end, so no write of the new credential lands after compensation gave the stores the old one.
 */
const storeWritesToTheEnd = {
  ...storeWrites,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
} as const;
/** Stores and the probe app get a bounded propagation window to show the new credential. */
const verification = {
  startToCloseTimeout: '30s',
  heartbeatTimeout: WORKER_LOST_AFTER,
  scheduleToCloseTimeout: '3 minutes',
  retry: { initialInterval: '500ms', backoffCoefficient: 1.5, maximumInterval: '10s' },
} as const;
/** History rows must survive a Postgres outage: retried until written. */
const historyWrites = {
  startToCloseTimeout: '30s',
  heartbeatTimeout: WORKER_LOST_AFTER,
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1 minute' },
} as const;

/** Rounds of propagation in runs recorded before `rotate-secret-propagates-until-held`. */
const PROPAGATION_ROUNDS = 3;
/**
 * The longest one propagation round takes while some worker runs: a store write with all its
 * attempts (`storeWrites`: 6 × 1 minute plus backoff), then `verification`'s whole window.
 */
const PROPAGATION_ROUND_MS = 10 * 60 * 1000;

/**
 * Patches (see README, "Deploying a workflow change"): runs started since take the new path;
 * runs recorded before replay the old one.
 *
 * - Bookkeeping runs beside the work (rotation-recorder.ts), the revoke signal is audited on
 *   arrival, and a revoke that reaches a run still waiting for its plan kills first.
 */
const HISTORY_BESIDE_THE_WORK = 'rotation-history-beside-the-work';
/** - rotate-secret keeps propagating until every store holds the new secret (rotation-propagation.ts). */
const PROPAGATES_UNTIL_HELD = 'rotate-secret-propagates-until-held';
/** - A blue/green run after a partial one never restores stores nor deletes its new token on failure. */
const AFTER_PARTIAL_RUN_KEEPS_BOTH = 'blue-green-after-partial-run-keeps-both';

/** The budget lane of a rotation's Cloudflare calls (an emergency revoke's are always `emergency`). */
export function laneOfRotation(mode: RotationMode): Lane {
  return mode === 'emergency' ? 'emergency' : mode === 'manual' ? 'interactive' : 'scheduled';
}

export interface RotateServiceTokenInput {
  accountId: string;
  tokenName: string;
  mode: RotationMode;
  trigger: Trigger;
}

export interface RotationResult {
  status: 'completed';
  strategy: 'rotate-secret' | 'replace';
  tokenId: string;
  clientId: string;
  fingerprint: string;
  recoveredLostSecret: boolean;
  emergency: boolean;
}

const records = proxyActivities<LocalActivities>(historyWrites);
/** Alerts are best effort: a few tries, then the run goes on (the history row says it all). */
const notifications = proxyActivities<LocalActivities>({
  startToCloseTimeout: '15s',
  retry: { initialInterval: '1s', maximumAttempts: 3 },
});
const local = proxyActivities<LocalActivities>(storeWrites);
const localToTheEnd = proxyActivities<LocalActivities>(storeWritesToTheEnd);

/** A failure type the workflow itself ends with, checked against the one list. */
const ends = (type: FailureType & ('RotationCompensated' | 'RotationFailed' | 'EmergencyRevokeIncomplete')) => type;

/**
 * Rotates one Access service token (DESIGN.md §4): resolve → issue → propagate → verify →
 * wait → retire → finish. Until retire, a failure compensates (rotate-secret, which cannot be
 * undone, keeps propagating instead); after it, only retries forward. The workflow carries refs
 * and fingerprints only; secrets stay in the pending-secret store. Its bookkeeping (history and
 * audit rows, alerts) is the recorder's, beside the work: the run ends once it has caught up.
 */
export async function rotateServiceToken(input: RotateServiceTokenInput): Promise<RotationResult> {
  const { workflowId, runId } = workflowInfo();
  const token = { accountId: input.accountId, tokenName: input.tokenName };
  let revoke: EmergencyRevokeRequest | undefined =
    input.mode === 'emergency'
      ? { actor: input.trigger.actor, reason: input.trigger.reason ?? 'emergency revoke' }
      : undefined;
  const besideTheWork = patched(HISTORY_BESIDE_THE_WORK);
  const progress: RotationProgress = {
    ...token,
    mode: input.mode,
    strategy: null,
    phase: 'plan',
    emergency: Boolean(revoke),
    steps: [],
  };
  const recorder = new RotationRecorder({ token, workflowId, runId, progress, records, notifications }, besideTheWork);
  setHandler(emergencyRevokeSignal, (request) => {
    revoke ??= request;
    progress.emergency = true;
    // Every trigger leaves an audit row (DESIGN §5.5): the signal's is written when it arrives.
    if (besideTheWork)
      void recorder.audit('audit (revoke signal)', {
        actor: request.actor,
        action: 'revoke.signal',
        subject: input.tokenName,
        workflowId,
        runId,
        details: { accountId: input.accountId, reason: request.reason },
      });
  });
  setHandler(progressQuery, () => progress);
  try {
    return await rotate(input, recorder, () => revoke);
  } finally {
    await recorder.flush();
  }
}

async function rotate(
  input: RotateServiceTokenInput,
  recorder: RotationRecorder,
  revoked: () => EmergencyRevokeRequest | undefined,
): Promise<RotationResult> {
  const { workflowId, runId } = workflowInfo();
  const token = { accountId: input.accountId, tokenName: input.tokenName };
  const progress = recorder.progress;
  const step = recorder.step.bind(recorder);
  // Cloudflare calls go to the lane of the request budget this run deserves now: a revoke
  // arriving mid-run moves every later call ahead of routine work. Runs recorded before lanes
  // existed keep the one queue they used.
  const lane = (): Lane => (revoked() ? 'emergency' : laneOfRotation(input.mode));
  const onLane = (options: ActivityOptions) => {
    const make = (l: Lane) =>
      proxyActivities<CloudflareActivities>({
        ...options,
        startToCloseTimeout: CLOUDFLARE_CALL_WITH_BUDGET_WAIT,
        taskQueue: cloudflareQueue(l),
      });
    const byLane = { emergency: make('emergency'), interactive: make('interactive'), scheduled: make('scheduled') };
    return () => byLane[lane()];
  };
  const cloudflare = onLane(cloudflareCalls);
  const retire = onLane(retireCalls);
  const probe = proxyActivities<LocalActivities>(verification);
  const cloudflareStores = onLane(recorder.besideTheWork ? storeWritesToTheEnd : storeWrites);
  const localStores = recorder.besideTheWork ? localToTheEnd : local;
  const cloudflareVerification = onLane(verification);

  // Store writes for Workers and Secrets Store are Cloudflare calls: rate-limited queue.
  // A later round writes everything again, so a binding someone deleted is restored.
  const write = (target: PlannedTarget, ref: string, round: number) =>
    (target.viaCloudflare ? cloudflareStores() : localStores).propagateToStore({
      ...token,
      targetIndex: target.index,
      ref,
      round,
    });
  const readBack = (target: PlannedTarget, receipt: WriteReceipt) =>
    (target.viaCloudflare ? cloudflareVerification() : probe).verifyStore({
      ...token,
      targetIndex: target.index,
      receipt,
    });
  const restore = (target: PlannedTarget, ref: string) =>
    (target.viaCloudflare ? cloudflareStores() : localStores).restoreStore({
      ...token,
      targetIndex: target.index,
      ref,
    });

  /**
   * An emergency kills the compromised secret before anything else, resolve and rotate in one
   * activity; the plan, the audit row and the run's record follow, so no bookkeeping sits on a
   * revoke's critical path. When that cannot be done (a zone-scoped token, a failure), the run
   * resolves and issues step by step as before.
   */
  async function killFirst() {
    const startedAt = iso(Date.now());
    try {
      const killed = await cloudflare().revokeServiceTokenSecret({ ...token, ref: uuid4() });
      return killed && { ...killed, startedAt };
    } catch (error) {
      log.error('killing the compromised secret first failed: resolving and issuing step by step', {
        token: input.tokenName,
        error: failureSummary(error),
      });
      return null;
    }
  }
  /** The plan reads Postgres; a revoke that arrives while it waits (Postgres down) kills first without it. */
  async function killIfRevokedBefore(planning: Promise<RotationPlan>) {
    const planned = await Promise.race([
      planning.then(() => true),
      condition(() => revoked() !== undefined).then(() => false),
    ]);
    return planned ? null : killFirst();
  }
  // Runs recorded before kill-first keep their order.
  const killedAtStart = input.mode === 'emergency' && patched('emergency-kills-first') ? await killFirst() : null;
  recorder.open();
  const planning = records.planRotation(token);
  const killed =
    killedAtStart ??
    (recorder.besideTheWork && input.mode !== 'emergency' ? await killIfRevokedBefore(planning) : null);
  const plan: RotationPlan = await planning;
  recorder.alertTo(plan.notifyChannels);
  // Zone-scoped tokens have no rotate endpoint: they can only be replaced. Any other token is
  // rotated in place in an emergency, so the call that issues the successor kills the old secret.
  const canRotate = !plan.zoneScoped;
  let strategy: RotationResult['strategy'] = !canRotate ? 'replace' : revoked() ? 'rotate-secret' : plan.strategy;
  progress.strategy = strategy;
  upsertSearchAttributes([
    { key: TokenName, value: input.tokenName },
    { key: CloudflareAccountId, value: input.accountId },
    { key: RotationStrategy, value: strategy },
    { key: TokenKind, value: 'service-token' },
    { key: TriggeredBy, value: input.trigger.actor },
  ]);
  /** The strategy the run turned to, in the progress query and the search attributes alike. */
  const switchStrategy = (next: RotationResult['strategy']) => {
    if (next === strategy) return;
    strategy = next;
    progress.strategy = next;
    upsertSearchAttributes([{ key: RotationStrategy, value: next }]);
  };
  await recorder.audit('audit', {
    actor: input.trigger.actor,
    action: `rotate.${input.mode}`,
    subject: input.tokenName,
    workflowId,
    runId,
    details: { accountId: input.accountId, reason: input.trigger.reason ?? null },
  });
  await recorder.start({ runId, workflowId, ...token, strategy, mode: input.mode, triggeredBy: input.trigger.actor });

  interface Compensation {
    name: string;
    run: () => Promise<unknown>;
    /** Gives every store the current credential back. */
    restoresStores?: boolean;
    /** Takes the new credential away: unsafe while a store may still hold it. */
    revokesNew?: boolean;
    /** What to do instead when an emergency revoke arrived during the run. */
    whenRevoked?: { name: string; run: () => Promise<unknown> };
  }
  const compensations: Compensation[] = [];
  let issued: IssuedSecret | undefined;
  let resolved: ResolvedServiceToken | undefined;
  let recoveredLostSecret = false;
  let killedOldFirst = false;
  /** The old token's previous secret was alive at resolve: an earlier run ended part-way. */
  let afterPartialRun = false;
  /** Set when a failed replace must neither restore the stores nor take its new token away. */
  let keepBothTokens = false;
  /** rotate-secret past issue: propagation keeps going, and this is where it stands. */
  let hold: HoldState | undefined;

  /** Blue/green: a new token beside the old one in every Access policy that names it. */
  async function issueReplacement(old: ResolvedServiceToken): Promise<IssuedSecret> {
    const replacement = await step(
      'issue',
      () =>
        cloudflare().createReplacementToken({
          ...token,
          oldTokenId: old.tokenId,
          strays: old.strays ?? [],
          ref: uuid4(),
          notBefore: iso(workflowInfo().startTime.getTime() - 60_000),
          duration: plan.duration,
        }),
      (r) => ({ strategy: 'replace', tokenId: r.tokenId, clientId: r.clientId, fingerprint: r.fingerprint }),
    );
    // After a partial run the credential on record may be the old token's previous secret, which
    // expires, while some stores hold its current one, which does not: "restoring" them would
    // hand them a secret that dies with the recovery window. A failure keeps both tokens instead.
    keepBothTokens = afterPartialRun && !revoked() && patched(AFTER_PARTIAL_RUN_KEEPS_BOTH);
    // Undoing a replace deletes the new token, which is safe only if every store can be given
    // the old credential back. Without it, both tokens stay valid and bound (and it is logged).
    const undoable = plan.currentRef !== null && !keepBothTokens;
    if (undoable) {
      compensations.push({
        name: 'delete new token',
        run: () => cloudflare().deleteServiceToken({ ...token, tokenId: replacement.tokenId }),
        revokesNew: true,
      });
      compensations.push({
        name: 'discard pending secret',
        run: () => records.discardSecret({ ref: replacement.ref }),
      });
      // Pushed before the bind: it edits one policy after another and may fail part-way, and
      // unbinding is idempotent, so the policies it did reach are cleaned before the delete.
      compensations.push({
        name: 'unbind new token',
        run: () => cloudflare().unbindTokenFromPolicies({ accountId: input.accountId, tokenId: replacement.tokenId }),
        revokesNew: true,
      });
    } else if (keepBothTokens) {
      log.warn(
        'previous secret of an earlier run still alive: a failed replace will leave both tokens valid and restore no store',
        { token: input.tokenName },
      );
    } else {
      log.warn('no current credential on record: a failed replace will leave both tokens valid', {
        token: input.tokenName,
      });
    }
    await step(
      'bind',
      () =>
        cloudflare().bindTokenToPolicies({
          accountId: input.accountId,
          besideTokenId: old.tokenId,
          newTokenId: replacement.tokenId,
        }),
      (policies) => ({ policies }),
    );
    return replacement;
  }

  /** Ends the old credential: its previous secret expires now, or the old token is unbound and deleted. */
  async function retireOld(old: ResolvedServiceToken): Promise<void> {
    if (strategy === 'rotate-secret') {
      if (!killedOldFirst)
        await step(
          'retire',
          () => retire().setPreviousSecretExpiry({ ...token, tokenId: old.tokenId, expiresAt: iso(Date.now()) }),
          () => ({ previousSecretExpiredAt: iso(Date.now()) }),
        );
      else
        await step(
          'retire',
          async () => undefined,
          () => ({ previousSecretExpiredAt: 'at issue (emergency)' }),
        );
    } else {
      await step(
        'retire',
        async () => {
          const unbound = await retire().unbindTokenFromPolicies({ accountId: input.accountId, tokenId: old.tokenId });
          await retire().deleteServiceToken({ ...token, tokenId: old.tokenId });
          return unbound;
        },
        (policies) => ({ deletedTokenId: old.tokenId, policies }),
      );
    }
  }

  /** After a revoke: the probe app must now refuse what the stores held. Returns the failure, if any. */
  async function confirmRevoked(): Promise<unknown> {
    if (!revoked() || !plan.hasProbe || !plan.currentRef) return undefined;
    const previous = plan.currentRef;
    try {
      await step(
        'confirm revoked',
        () => probe.probeCredential({ ...token, ref: previous, expect: 'rejected' }),
        (r) => ({ probeStatus: r.status }),
      );
      return undefined;
    } catch (error) {
      return error;
    }
  }

  /**
   * A failure before retire once an emergency revoke arrived (or started the run): the old
   * credential is compromised, so nothing gives it back to the stores or takes its successor
   * away. It is ended now, the new credential becomes current as the only live one, and the
   * stores that did not receive it need an operator.
   */
  async function containCompromised(
    error: unknown,
    request: EmergencyRevokeRequest,
    old: ResolvedServiceToken,
    fresh: IssuedSecret,
  ): Promise<never> {
    const outcome = {
      error: failureSummary(error),
      emergency: true,
      current: fresh.fingerprint,
      compensated: [] as string[],
      failedCompensations: [] as Array<{ name: string; error: Record<string, unknown> }>,
      keptValid: [] as string[],
    };
    let contained = true;
    try {
      await retireOld(old);
      const stillAccepted = await confirmRevoked();
      await step(
        'finish',
        () => records.promoteSecret({ ref: fresh.ref }),
        () => ({ fingerprint: fresh.fingerprint }),
      );
      if (stillAccepted) throw stillAccepted;
    } catch (containError) {
      contained = false;
      outcome.failedCompensations.push({ name: 'end compromised credential', error: failureSummary(containError) });
    }
    progress.phase = 'failed';
    await recorder.finish('failed', outcome);
    const message = contained
      ? `emergency revoke by ${request.actor}: the compromised credential is dead and the new one is current, but ${String(outcome.error.message)}: stores without the new credential cannot authenticate`
      : `emergency revoke by ${request.actor} failed (${String(outcome.error.message)}) and ending the compromised credential failed too: it may still be valid`;
    await recorder.alert('critical', 'emergency-incomplete', `${message}; needs an operator`);
    throw ApplicationFailure.create({
      message,
      type: ends('EmergencyRevokeIncomplete'),
      nonRetryable: true,
      details: [outcome],
    });
  }

  /**
   * An operator cancelled a rotate-secret run past issue. Nothing can undo the rotate: the new
   * secret is Cloudflare's current one, the only one that does not expire, so it becomes the
   * credential on record (what every store is meant to hold, and what a later compensation would
   * restore); the previous one is given a whole recovery window from now. Both stay valid, the
   * stores keep what they hold, and the run says which of them miss the new secret.
   */
  async function leaveBothValid(
    error: unknown,
    old: ResolvedServiceToken,
    fresh: IssuedSecret,
    state: HoldState,
  ): Promise<never> {
    await CancellationScope.nonCancellable(async () => {
      const until = Date.now() + RECOVERY_WINDOW_MS;
      try {
        await step(
          'extend previous secret',
          () => cloudflare().setPreviousSecretExpiry({ ...token, tokenId: old.tokenId, expiresAt: iso(until) }),
          () => ({ until: iso(until), reason: 'cancelled: both secrets stay valid' }),
        );
        state.previousValidUntil = until;
      } catch (extendError) {
        log.error('extending the previous secret after a cancel failed', {
          token: input.tokenName,
          error: failureSummary(extendError),
        });
      }
      try {
        await step(
          'make new secret current',
          () => records.promoteSecret({ ref: fresh.ref }),
          () => ({ fingerprint: fresh.fingerprint }),
        );
      } catch (promoteError) {
        log.error('recording the new secret as current after a cancel failed', {
          token: input.tokenName,
          error: failureSummary(promoteError),
        });
      }
      progress.phase = 'cancelled';
      const missing = state.missing.map((t) => t.label);
      await recorder.finish('cancelled', {
        cancelled: true,
        bothValid: true,
        current: fresh.fingerprint,
        previousSecretValidUntil: iso(state.previousValidUntil),
        storesWithoutNewSecret: missing,
        error: failureSummary(error),
      });
      await recorder.alert(
        'critical',
        'rotation-cancelled',
        `rotation of ${input.tokenName} was cancelled before it finished: both the new secret (Cloudflare's current one) and the previous one stay valid, the previous one until ${iso(state.previousValidUntil)}; ${missing.length ? `${missing.join(', ')} still hold the previous one and stop working then unless given the new one` : 'every store holds the new secret'}. The next rotation finishes blue/green`,
      );
    });
    throw error;
  }

  try {
    // 1. resolve — the token as Cloudflare has it now
    const describeResolved = (t: ResolvedServiceToken) => ({
      tokenId: t.tokenId,
      secretVersion: t.secretVersion,
      expiresAt: t.expiresAt,
      previousSecretExpiresAt: t.previousSecretExpiresAt,
      strays: t.strays ?? [],
    });
    if (killed) {
      resolved = killed.resolved;
      await recorder.recordStep(recorder.nextSeq(), 'resolve', 'ok', killed.startedAt, describeResolved(resolved));
    } else {
      resolved = await step('resolve', () => cloudflare().resolveServiceToken(token), describeResolved);
    }
    const old = resolved;

    // A previous secret still alive means an earlier run ended part-way (a rotate-secret
    // compensation kept it for the recovery window, a lost rotate answer): some stores may hold
    // it. A rotate would end it at once (Cloudflare keeps one previous secret), so finish
    // blue/green, which keeps both of the old token's secrets until every store holds the new one.
    const previousAlive = old.previousSecretExpiresAt !== null && Date.parse(old.previousSecretExpiresAt) > Date.now();
    afterPartialRun = previousAlive && !revoked();
    if (previousAlive && !revoked() && strategy === 'rotate-secret' && canRotate) {
      log.warn('previous secret still valid from an earlier run: rotating blue/green', {
        token: input.tokenName,
        previousSecretExpiresAt: old.previousSecretExpiresAt,
      });
      switchStrategy('replace');
    }

    // 2. issue — the new secret goes straight into the encrypted pending-secret store
    let previousValidUntil = Date.now();
    if (killed) {
      issued = killed.issued;
      killedOldFirst = true;
      await recorder.recordStep(recorder.nextSeq(), 'issue', 'ok', killed.startedAt, {
        strategy: 'rotate-secret',
        secretVersion: issued.secretVersion,
        fingerprint: issued.fingerprint,
        previousSecretExpiresAt: 'at issue (emergency)',
      });
    } else if (strategy === 'rotate-secret' || (revoked() && canRotate)) {
      // Emergency: the compromised secret dies in the same call that issues its successor.
      // The previous secret outlives the first propagation round and the wait, whatever the
      // overlap: a round that is slow but succeeds (a worker killed under a store write is retried
      // a minute later) must not see it expire while stores still hold it. Retire ends it as soon
      // as every store holds the new one, so this only matters when a rotation stalls.
      const previousSecretExpiresAt = revoked()
        ? iso(Date.now())
        : iso(Date.now() + Math.max(plan.overlapMs, PROPAGATION_ROUND_MS + plan.propagationWaitMs));
      previousValidUntil = Date.parse(previousSecretExpiresAt);
      killedOldFirst = Boolean(revoked());
      try {
        issued = await step(
          'issue',
          () =>
            cloudflare().issueRotatedSecret({
              ...token,
              tokenId: old.tokenId,
              expectedVersion: old.secretVersion,
              ref: uuid4(),
              previousSecretExpiresAt,
            }),
          (r) => ({
            strategy: 'rotate-secret',
            secretVersion: r.secretVersion,
            fingerprint: r.fingerprint,
            previousSecretExpiresAt,
          }),
        );
        switchStrategy('rotate-secret');
        if (!revoked()) {
          compensations.push({
            name: 'keep previous secret valid',
            run: () =>
              cloudflare().setPreviousSecretExpiry({
                ...token,
                tokenId: old.tokenId,
                expiresAt: iso(Date.now() + RECOVERY_WINDOW_MS),
              }),
            // Only for runs replayed from before the patch below: they never extend a revoked secret.
            whenRevoked: {
              name: 'expire revoked previous secret',
              run: () =>
                cloudflare().setPreviousSecretExpiry({ ...token, tokenId: old.tokenId, expiresAt: iso(Date.now()) }),
            },
          });
        }
      } catch (error) {
        if (!isFailure(error, 'RotatedSecretLost')) throw error;
        // Cloudflare rotated but its answer never arrived. The stores hold what is now the
        // previous secret, valid until `previousSecretExpiresAt`; another rotate would kill
        // it at once. Keep it alive for the recovery window, then finish blue/green.
        recoveredLostSecret = true;
        switchStrategy('replace');
        if (!revoked())
          await step(
            'extend previous secret',
            () =>
              cloudflare().setPreviousSecretExpiry({
                ...token,
                tokenId: old.tokenId,
                expiresAt: iso(Date.now() + RECOVERY_WINDOW_MS),
              }),
            () => ({ until: iso(Date.now() + RECOVERY_WINDOW_MS) }),
          );
        issued = await issueReplacement(old);
      }
    } else {
      issued = await issueReplacement(old);
    }
    const fresh = issued;

    // 3. propagate — every store, each write idempotent — and 4. verify — every store reads back
    // the new fingerprint, and the probe app accepts it
    const io: PropagationIo = {
      recorder,
      targets: plan.targets,
      hasProbe: plan.hasProbe,
      write: (target, round) => write(target, fresh.ref, round),
      readBack,
      probe: () => probe.probeCredential({ ...token, ref: fresh.ref, expect: 'accepted' }),
    };
    // rotate-secret cannot be undone once issued: it keeps going until every store holds the
    // new secret (runs recorded before gave up after three rounds and "compensated").
    if (strategy === 'rotate-secret' && !revoked() && patched(PROPAGATES_UNTIL_HELD)) {
      hold = { missing: plan.targets, probed: !plan.hasProbe, previousValidUntil };
      await propagateUntilHeld(io, hold, {
        tokenName: input.tokenName,
        revoked: () => revoked() !== undefined,
        extendPrevious: (until) =>
          cloudflare().setPreviousSecretExpiry({ ...token, tokenId: old.tokenId, expiresAt: iso(until) }),
        firstPauseMs: Math.min(plan.overlapMs / 4, 60_000),
      });
    } else {
      await propagateInRounds(io, {
        rounds: PROPAGATION_ROUNDS,
        // The replace strategy restores every store on compensation (unless both tokens are kept).
        beforeRound: (round) => {
          if (strategy === 'replace' && plan.currentRef && round === 1 && !keepBothTokens) {
            const previous = plan.currentRef;
            compensations.push({
              name: 'restore stores',
              run: () => allSettled(plan.targets.map((t) => restore(t, previous))),
              restoresStores: true,
            });
          }
        },
        // rotate-secret cannot be undone: keep the previous secret valid and try again.
        retries: () => strategy === 'rotate-secret' && !revoked(),
        extendPrevious: async () =>
          void (await cloudflare().setPreviousSecretExpiry({
            ...token,
            tokenId: old.tokenId,
            expiresAt: iso(Date.now() + RECOVERY_WINDOW_MS),
          })),
        alertFailing: (round, error) =>
          recorder.alert(
            'warning',
            'propagation-failing',
            `propagation of the new secret failed (round ${round} of ${PROPAGATION_ROUNDS}: ${String(failureSummary(error).message)}); the previous secret stays valid for 24 h while it is retried`,
          ),
        pauseMs: Math.min(plan.overlapMs / 4, 5 * 60_000),
        tokenName: input.tokenName,
      });
    }

    // 5. wait — consumers pick up the new credential; an emergency revoke cuts it short
    await step(
      'wait',
      () => condition(() => revoked() !== undefined, plan.propagationWaitMs),
      (wasRevoked) => ({
        waitedMs: plan.propagationWaitMs,
        cutShortBy: wasRevoked ? (revoked()?.actor ?? null) : null,
      }),
    );
  } catch (error) {
    const request = revoked();
    // Runs that reached this point under older code compensated instead (patch marker for replay).
    if (request && resolved && issued && patched('emergency-failure-ends-compromised'))
      await containCompromised(error, request, resolved, issued);
    if (hold && resolved && issued && isCancellation(error)) await leaveBothValid(error, resolved, issued, hold);
    progress.phase = 'compensate';
    const startedAt = iso(Date.now());
    const undone: string[] = [];
    const failedCompensations: Array<{ name: string; error: Record<string, unknown> }> = [];
    const keptValid: string[] = keepBothTokens ? ['unbind new token', 'delete new token'] : [];
    let storesRestored = true;
    // An operator's cancel is undone like any failure: compensations are not cancelled with the
    // run (runs recorded before ran them in the run's own, cancelled, scope).
    const undo = (work: () => Promise<void>) =>
      recorder.besideTheWork ? CancellationScope.nonCancellable(work) : work();
    await undo(async () => {
      for (const entry of compensations.reverse()) {
        const compensation = request && entry.whenRevoked ? entry.whenRevoked : entry;
        // A store that could not be given the old credential back may still hold the new one:
        // unbinding or deleting the new token would cut its consumers off. Both stay valid.
        if (entry.revokesNew && !storesRestored) {
          keptValid.push(compensation.name);
          log.error('compensation skipped: a store may still hold the new credential', { step: compensation.name });
          continue;
        }
        try {
          await compensation.run();
          undone.push(compensation.name);
        } catch (compensationError) {
          failedCompensations.push({ name: compensation.name, error: failureSummary(compensationError) });
          if (entry.restoresStores) storesRestored = false;
          log.error('compensation failed', { step: compensation.name, error: failureSummary(compensationError) });
        }
      }
    });
    // "compensated" only when something was undone and nothing was left half-undone.
    const status = undone.length && !failedCompensations.length && !keptValid.length ? 'compensated' : 'failed';
    const outcome = { error: failureSummary(error), compensated: undone, failedCompensations, keptValid };
    const stepOutcome =
      status === 'compensated' ? 'compensated' : undone.length || failedCompensations.length ? 'failed' : 'skipped';
    await recorder.recordStep(recorder.nextSeq(), 'compensate', stepOutcome, startedAt, outcome);
    await recorder.finish(status, outcome);
    progress.phase = status;
    await recorder.alert(
      status === 'compensated' ? 'warning' : 'critical',
      status === 'compensated' ? 'rotation-compensated' : 'rotation-failed',
      status === 'compensated'
        ? `rotation failed before retire and was undone (${String(outcome.error.message)}); the previous credential is in use`
        : `rotation failed before retire and could ${undone.length ? 'only partly' : 'not'} be undone (${String(outcome.error.message)})${keptValid.length ? '; both tokens were kept valid' : ''}: needs an operator`,
    );
    throw ApplicationFailure.create({
      message: `rotation of ${input.tokenName} failed before retire and was ${status === 'compensated' ? 'compensated' : undone.length ? 'only partly compensated' : 'not compensated'}: ${String(outcome.error.message)}`,
      type: ends(status === 'compensated' ? 'RotationCompensated' : 'RotationFailed'),
      nonRetryable: true,
      details: [outcome],
    });
  }

  // 6. retire — the point of no return: every store reads back the new credential
  const done = issued;
  const old = resolved;
  try {
    await retireOld(old);
    // Other tokens of this name (left valid by an earlier run) go too: every store has read
    // back the new credential, so none of them is what a store holds.
    const strays = old.strays ?? [];
    if (strays.length) {
      await step(
        'retire strays',
        async () => {
          for (const tokenId of strays) {
            await retire().unbindTokenFromPolicies({ accountId: input.accountId, tokenId });
            await retire().deleteServiceToken({ ...token, tokenId });
          }
        },
        () => ({ deletedTokenIds: strays }),
      );
    }
    // The old credential is probed before finish wipes its row; a probe that keeps accepting
    // it does not hold finish back, so the record still names the live credential.
    const stillAccepted = await confirmRevoked();

    // 7. finish — the new credential becomes current; the pending row is wiped
    await step(
      'finish',
      () => records.promoteSecret({ ref: done.ref }),
      () => ({ fingerprint: done.fingerprint }),
    );
    if (stillAccepted) throw stillAccepted;
  } catch (error) {
    // Past retire nothing is undone (every store holds the new credential), but the run must
    // not stay "running" in the history: it failed at this step and needs an operator.
    const phase = progress.phase;
    progress.phase = 'failed';
    await recorder.finish('failed', { error: failureSummary(error), phase, afterRetire: true });
    await recorder.alert(
      'critical',
      'failed-after-retire',
      `rotation failed after retire, at ${phase} (${String(failureSummary(error).message)}): every store holds the new credential; needs an operator`,
    );
    throw error;
  }
  const request = revoked();
  const result: RotationResult = {
    status: 'completed',
    strategy,
    tokenId: done.tokenId,
    clientId: done.clientId,
    fingerprint: done.fingerprint,
    recoveredLostSecret,
    emergency: Boolean(request),
  };
  await recorder.finish('completed', {
    ...result,
    revokedBy: request?.actor ?? null,
    revokeReason: request?.reason ?? null,
  });
  progress.phase = 'done';
  if (request)
    await recorder.alert(
      'info',
      'emergency-revoked',
      `emergency revoke by ${request.actor} (${request.reason}) done: the old credential is dead and every store holds the new one`,
    );
  else if (recoveredLostSecret)
    await recorder.alert(
      'info',
      'lost-secret-recovered',
      'Cloudflare applied a rotate whose answer was lost; the rotation was finished blue/green with a new token',
    );
  log.info('service token rotated', {
    token: input.tokenName,
    strategy,
    emergency: Boolean(request),
    fingerprint: done.fingerprint,
  });
  return result;
}
