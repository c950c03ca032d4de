import {
  type ActivityOptions,
  ActivityFailure,
  ApplicationFailure,
  condition,
  defineQuery,
  defineSignal,
  log,
  patched,
  proxyActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { CloudflareActivities, LocalActivities } from '../activities';
import type { IssuedSecret, ResolvedServiceToken } from '../activities/service-tokens';
import type { PlannedTarget, RotationPlan } from '../activities/rotation-records';
import type { RotationAlert } from '../activities/notify';
import type { WriteReceipt } from '../stores/store-types';
import { CloudflareAccountId, RotationStrategy, TokenKind, TokenName, TriggeredBy } from '../temporal/search-attributes';
import type { Trigger } from './triggers';
import type { Lane } from '../cloudflare/budget/lanes';
import { CLOUDFLARE_CALL_WITH_BUDGET_WAIT, cloudflareQueue } from './lanes';

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

/** How long the previous secret is kept alive when propagation fails or a secret was lost. */
const RECOVERY_WINDOW_MS = 24 * 60 * 60 * 1000;
const PROPAGATION_ROUNDS = 3;
/**
 * The longest one propagation round takes while some worker runs: a store write with all its
 * attempts (`storeWrites`: 6 × 1 minute plus backoff), then `verification`'s whole window.
 */
const PROPAGATION_ROUND_MS = 10 * 60 * 1000;

export type RotationMode = 'scheduled' | 'manual' | 'expiry' | 'emergency';

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

export interface EmergencyRevokeRequest {
  actor: string;
  reason: string;
}

export interface RotationStep {
  seq: number;
  step: string;
  outcome: 'ok' | 'failed' | 'compensated' | 'skipped';
  startedAt: string;
  finishedAt: string;
  details: Record<string, unknown>;
}

export interface RotationProgress {
  tokenName: string;
  accountId: string;
  mode: RotationMode;
  strategy: string | null;
  phase: string;
  emergency: boolean;
  steps: RotationStep[];
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

export const emergencyRevokeSignal = defineSignal<[EmergencyRevokeRequest]>('emergencyRevoke');
export const progressQuery = defineQuery<RotationProgress>('progress');

const records = proxyActivities<LocalActivities>(historyWrites);
/** Alerts are best effort: a few tries, then the run goes on (the history row says it all). */
const notifications = proxyActivities<LocalActivities>({ startToCloseTimeout: '15s', retry: { initialInterval: '1s', maximumAttempts: 3 } });
const local = proxyActivities<LocalActivities>(storeWrites);

function failureType(error: unknown): string | undefined {
  const cause = error instanceof ActivityFailure ? error.cause : error;
  return cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
}

function failureSummary(error: unknown): Record<string, unknown> {
  const cause = error instanceof ActivityFailure && error.cause ? error.cause : error;
  return { type: failureType(error) ?? (cause instanceof Error ? cause.name : 'Error'), message: cause instanceof Error ? cause.message : String(cause) };
}

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * Like Promise.all, but settles every promise before it rejects with the first failure. A store
 * activity left running behind an early rejection would land after whatever the workflow does
 * next: a write of the new credential after compensation restored the old one (and deleted the
 * token the write hands out).
 */
async function allSettled<T>(work: Array<Promise<T>>): Promise<T[]> {
  const values: T[] = [];
  for (const result of await Promise.allSettled(work)) {
    if (result.status === 'rejected') throw result.reason;
    values.push(result.value);
  }
  return values;
}

/**
 * Rotates one Access service token (DESIGN.md §4): resolve → issue → propagate → verify →
 * wait → retire → finish. Until retire, a failure compensates; after it, only retries forward.
 * The workflow carries refs and fingerprints only; secrets stay in the pending-secret store.
 */
export async function rotateServiceToken(input: RotateServiceTokenInput): Promise<RotationResult> {
  const { workflowId, runId } = workflowInfo();
  const token = { accountId: input.accountId, tokenName: input.tokenName };
  let revoke: EmergencyRevokeRequest | undefined = input.mode === 'emergency' ? { actor: input.trigger.actor, reason: input.trigger.reason ?? 'emergency revoke' } : undefined;
  // Cloudflare calls go to the lane of the request budget this run deserves now: a revoke
  // arriving mid-run moves every later call ahead of routine work. Runs recorded before lanes
  // existed keep the one queue they used.
  const lane = (): Lane => (revoke ? 'emergency' : laneOfRotation(input.mode));
  const onLane = (options: ActivityOptions) => {
    const make = (l: Lane) => proxyActivities<CloudflareActivities>({ ...options, startToCloseTimeout: CLOUDFLARE_CALL_WITH_BUDGET_WAIT, taskQueue: cloudflareQueue(l) });
    const byLane = { emergency: make('emergency'), interactive: make('interactive'), scheduled: make('scheduled') };
    return () => byLane[lane()];
  };
  const cloudflare = onLane(cloudflareCalls);
  const retire = onLane(retireCalls);
  const probe = proxyActivities<LocalActivities>(verification);
  const cloudflareStores = onLane(storeWrites);
  const cloudflareVerification = onLane(verification);

  const progress: RotationProgress = { ...token, mode: input.mode, strategy: null, phase: 'plan', emergency: Boolean(revoke), steps: [] };
  setHandler(emergencyRevokeSignal, (request) => {
    revoke ??= request;
    progress.emergency = true;
  });
  setHandler(progressQuery, () => progress);

  let seq = 0;
  async function recordStep(own: number, name: string, outcome: RotationStep['outcome'], startedAt: string, details: Record<string, unknown>): Promise<void> {
    progress.steps.push({ seq: own, step: name, outcome, startedAt, finishedAt: iso(Date.now()), details });
    await records.recordRotationStep({ runId, seq: own, step: name, outcome, startedAt, details });
  }
  async function step<T>(name: string, run: () => Promise<T>, describe: (result: T) => Record<string, unknown> = () => ({})): Promise<T> {
    progress.phase = name;
    const startedAt = iso(Date.now());
    const own = ++seq;
    try {
      const result = await run();
      await recordStep(own, name, 'ok', startedAt, describe(result));
      return result;
    } catch (error) {
      await recordStep(own, name, 'failed', startedAt, failureSummary(error));
      throw error;
    }
  }

  // Store writes for Workers and Secrets Store are Cloudflare calls: rate-limited queue.
  // A later round writes everything again, so a binding someone deleted is restored.
  const write = (target: PlannedTarget, ref: string, round: number) =>
    (target.viaCloudflare ? cloudflareStores() : local).propagateToStore({ ...token, targetIndex: target.index, ref, round });
  const readBack = (target: PlannedTarget, receipt: WriteReceipt) =>
    (target.viaCloudflare ? cloudflareVerification() : probe).verifyStore({ ...token, targetIndex: target.index, receipt });
  const restore = (target: PlannedTarget, ref: string) =>
    (target.viaCloudflare ? cloudflareStores() : local).restoreStore({ ...token, targetIndex: target.index, ref });

  /**
   * An emergency with no rotation running kills the compromised secret before anything else,
   * resolve and rotate in one activity; the plan, the audit row and the run's record follow, so
   * no bookkeeping sits on a revoke's critical path. When that cannot be done (a zone-scoped
   * token, a failure), the run resolves and issues step by step as before.
   */
  async function killFirst() {
    const startedAt = iso(Date.now());
    try {
      const killed = await cloudflare().revokeServiceTokenSecret({ ...token, ref: uuid4() });
      return killed && { ...killed, startedAt };
    } catch (error) {
      log.error('killing the compromised secret first failed: resolving and issuing step by step', { token: input.tokenName, error: failureSummary(error) });
      return null;
    }
  }
  // Runs recorded before kill-first keep their order.
  const killedAtStart = input.mode === 'emergency' && patched('emergency-kills-first') ? await killFirst() : null;

  const plan: RotationPlan = await records.planRotation(token);
  // Zone-scoped tokens have no rotate endpoint: they can only be replaced. Any other token is
  // rotated in place in an emergency, so the call that issues the successor kills the old secret.
  const canRotate = !plan.zoneScoped;
  let strategy: RotationResult['strategy'] = !canRotate ? 'replace' : revoke ? 'rotate-secret' : plan.strategy;
  progress.strategy = strategy;
  upsertSearchAttributes([
    { key: TokenName, value: input.tokenName },
    { key: CloudflareAccountId, value: input.accountId },
    { key: RotationStrategy, value: strategy },
    { key: TokenKind, value: 'service-token' },
    { key: TriggeredBy, value: input.trigger.actor },
  ]);
  async function alert(severity: RotationAlert['severity'], event: RotationAlert['event'], message: string): Promise<void> {
    const payload: RotationAlert = { severity, event, message, ...token, workflowId, runId };
    const sent = await Promise.allSettled(plan.notifyChannels.map((channel) => notifications.notifyRotation({ channel, alert: payload })));
    sent.forEach((result, i) => {
      if (result.status === 'rejected') log.warn('rotation alert not delivered', { channel: plan.notifyChannels[i], event });
    });
  }
  /** The strategy the run turned to, in the progress query and the search attributes alike. */
  const switchStrategy = (next: RotationResult['strategy']) => {
    if (next === strategy) return;
    strategy = next;
    progress.strategy = next;
    upsertSearchAttributes([{ key: RotationStrategy, value: next }]);
  };
  await records.recordAudit({ actor: input.trigger.actor, action: `rotate.${input.mode}`, subject: input.tokenName, workflowId, runId, details: { accountId: input.accountId, reason: input.trigger.reason ?? null } });
  await records.recordRotationStart({ runId, workflowId, ...token, strategy, mode: input.mode, triggeredBy: input.trigger.actor });

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

  /** Blue/green: a new token beside the old one in every Access policy that names it. */
  async function issueReplacement(old: ResolvedServiceToken): Promise<IssuedSecret> {
    const replacement = await step(
      'issue',
      () => cloudflare().createReplacementToken({ ...token, oldTokenId: old.tokenId, strays: old.strays ?? [], ref: uuid4(), notBefore: iso(workflowInfo().startTime.getTime() - 60_000), duration: plan.duration }),
      (r) => ({ strategy: 'replace', tokenId: r.tokenId, clientId: r.clientId, fingerprint: r.fingerprint }),
    );
    // Undoing a replace deletes the new token, which is safe only if every store can be given
    // the old credential back. Without it, both tokens stay valid and bound (and it is logged).
    const undoable = plan.currentRef !== null;
    if (undoable) {
      compensations.push({ name: 'delete new token', run: () => cloudflare().deleteServiceToken({ ...token, tokenId: replacement.tokenId }), revokesNew: true });
      compensations.push({ name: 'discard pending secret', run: () => records.discardSecret({ ref: replacement.ref }) });
      // Pushed before the bind: it edits one policy after another and may fail part-way, and
      // unbinding is idempotent, so the policies it did reach are cleaned before the delete.
      compensations.push({ name: 'unbind new token', run: () => cloudflare().unbindTokenFromPolicies({ accountId: input.accountId, tokenId: replacement.tokenId }), revokesNew: true });
    } else {
      log.warn('no current credential on record: a failed replace will leave both tokens valid', { token: input.tokenName });
    }
    await step('bind', () => cloudflare().bindTokenToPolicies({ accountId: input.accountId, besideTokenId: old.tokenId, newTokenId: replacement.tokenId }), (policies) => ({ policies }));
    return replacement;
  }

  /** Ends the old credential: its previous secret expires now, or the old token is unbound and deleted. */
  async function retireOld(old: ResolvedServiceToken): Promise<void> {
    if (strategy === 'rotate-secret') {
      if (!killedOldFirst) await step('retire', () => retire().setPreviousSecretExpiry({ ...token, tokenId: old.tokenId, expiresAt: iso(Date.now()) }), () => ({ previousSecretExpiredAt: iso(Date.now()) }));
      else await step('retire', async () => undefined, () => ({ previousSecretExpiredAt: 'at issue (emergency)' }));
    } else {
      await step('retire', async () => {
        const unbound = await retire().unbindTokenFromPolicies({ accountId: input.accountId, tokenId: old.tokenId });
        await retire().deleteServiceToken({ ...token, tokenId: old.tokenId });
        return unbound;
      }, (policies) => ({ deletedTokenId: old.tokenId, policies }));
    }
  }

  /** After a revoke: the probe app must now refuse what the stores held. Returns the failure, if any. */
  async function confirmRevoked(): Promise<unknown> {
    if (!revoke || !plan.hasProbe || !plan.currentRef) return undefined;
    const previous = plan.currentRef;
    try {
      await step('confirm revoked', () => probe.probeCredential({ ...token, ref: previous, expect: 'rejected' }), (r) => ({ probeStatus: r.status }));
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
  async function containCompromised(error: unknown, request: EmergencyRevokeRequest, old: ResolvedServiceToken, fresh: IssuedSecret): Promise<never> {
    const outcome = { error: failureSummary(error), emergency: true, current: fresh.fingerprint, compensated: [] as string[], failedCompensations: [] as Array<{ name: string; error: Record<string, unknown> }>, keptValid: [] as string[] };
    let contained = true;
    try {
      await retireOld(old);
      const stillAccepted = await confirmRevoked();
      await step('finish', () => records.promoteSecret({ ref: fresh.ref }), () => ({ fingerprint: fresh.fingerprint }));
      if (stillAccepted) throw stillAccepted;
    } catch (containError) {
      contained = false;
      outcome.failedCompensations.push({ name: 'end compromised credential', error: failureSummary(containError) });
    }
    progress.phase = 'failed';
    await records.finishRotationRecord({ runId, status: 'failed', outcome });
    const message = contained
      ? `emergency revoke by ${request.actor}: the compromised credential is dead and the new one is current, but ${String(outcome.error.message)}: stores without the new credential cannot authenticate`
      : `emergency revoke by ${request.actor} failed (${String(outcome.error.message)}) and ending the compromised credential failed too: it may still be valid`;
    await alert('critical', 'emergency-incomplete', `${message}; needs an operator`);
    throw ApplicationFailure.create({ message, type: 'EmergencyRevokeIncomplete', nonRetryable: true, details: [outcome] });
  }

  try {
    // 1. resolve — the token as Cloudflare has it now
    const describeResolved = (t: ResolvedServiceToken) => ({ tokenId: t.tokenId, secretVersion: t.secretVersion, expiresAt: t.expiresAt, previousSecretExpiresAt: t.previousSecretExpiresAt, strays: t.strays ?? [] });
    if (killedAtStart) {
      resolved = killedAtStart.resolved;
      await recordStep(++seq, 'resolve', 'ok', killedAtStart.startedAt, describeResolved(resolved));
    } else {
      resolved = await step('resolve', () => cloudflare().resolveServiceToken(token), describeResolved);
    }
    const old = resolved;

    // A previous secret still alive means an earlier run ended part-way (a rotate-secret
    // compensation kept it for the recovery window, a lost rotate answer): some stores may hold
    // it. A rotate would end it at once (Cloudflare keeps one previous secret), so finish
    // blue/green, which keeps both of the old token's secrets until every store holds the new one.
    const previousAlive = old.previousSecretExpiresAt !== null && Date.parse(old.previousSecretExpiresAt) > Date.now();
    if (previousAlive && !revoke && strategy === 'rotate-secret' && canRotate) {
      log.warn('previous secret still valid from an earlier run: rotating blue/green', { token: input.tokenName, previousSecretExpiresAt: old.previousSecretExpiresAt });
      switchStrategy('replace');
    }

    // 2. issue — the new secret goes straight into the encrypted pending-secret store
    if (killedAtStart) {
      issued = killedAtStart.issued;
      killedOldFirst = true;
      await recordStep(++seq, 'issue', 'ok', killedAtStart.startedAt, { strategy: 'rotate-secret', secretVersion: issued.secretVersion, fingerprint: issued.fingerprint, previousSecretExpiresAt: 'at issue (emergency)' });
    } else if (strategy === 'rotate-secret' || (revoke && canRotate)) {
      // Emergency: the compromised secret dies in the same call that issues its successor.
      // The previous secret outlives the first propagation round and the wait, whatever the
      // overlap: a round that is slow but succeeds (a worker killed under a store write is retried
      // a minute later) must not see it expire while stores still hold it. Retire ends it as soon
      // as every store holds the new one, so this only matters when a rotation stalls.
      const previousSecretExpiresAt = revoke ? iso(Date.now()) : iso(Date.now() + Math.max(plan.overlapMs, PROPAGATION_ROUND_MS + plan.propagationWaitMs));
      killedOldFirst = Boolean(revoke);
      try {
        issued = await step(
          'issue',
          () => cloudflare().issueRotatedSecret({ ...token, tokenId: old.tokenId, expectedVersion: old.secretVersion, ref: uuid4(), previousSecretExpiresAt }),
          (r) => ({ strategy: 'rotate-secret', secretVersion: r.secretVersion, fingerprint: r.fingerprint, previousSecretExpiresAt }),
        );
        switchStrategy('rotate-secret');
        if (!revoke) {
          compensations.push({
            name: 'keep previous secret valid',
            run: () => cloudflare().setPreviousSecretExpiry({ ...token, tokenId: old.tokenId, expiresAt: iso(Date.now() + RECOVERY_WINDOW_MS) }),
            // Only for runs replayed from before the patch below: they never extend a revoked secret.
            whenRevoked: { name: 'expire revoked previous secret', run: () => cloudflare().setPreviousSecretExpiry({ ...token, tokenId: old.tokenId, expiresAt: iso(Date.now()) }) },
          });
        }
      } catch (error) {
        if (failureType(error) !== 'RotatedSecretLost') throw error;
        // Cloudflare rotated but its answer never arrived. The stores hold what is now the
        // previous secret, valid until `previousSecretExpiresAt`; another rotate would kill
        // it at once. Keep it alive for the recovery window, then finish blue/green.
        recoveredLostSecret = true;
        switchStrategy('replace');
        if (!revoke) await step('extend previous secret', () => cloudflare().setPreviousSecretExpiry({ ...token, tokenId: old.tokenId, expiresAt: iso(Date.now() + RECOVERY_WINDOW_MS) }), () => ({ until: iso(Date.now() + RECOVERY_WINDOW_MS) }));
        issued = await issueReplacement(old);
      }
    } else {
      issued = await issueReplacement(old);
    }
    const fresh = issued;

    // 3. propagate — every store, each write idempotent; restored on compensation (replace)
    const targets = plan.targets;
    let receipts: WriteReceipt[] = [];
    for (let round = 1; ; round++) {
      try {
        if (strategy === 'replace' && plan.currentRef && round === 1) {
          const previous = plan.currentRef;
          compensations.push({ name: 'restore stores', run: () => allSettled(targets.map((t) => restore(t, previous))), restoresStores: true });
        }
        // Every write has finished (or failed for good) before the run moves on or compensates.
        receipts = await step('propagate', () => allSettled(targets.map((t) => write(t, fresh.ref, round))), (r) => ({ round, stores: r.map((x) => ({ store: x.store, fingerprint: x.fingerprint, changed: x.changed })) }));

        // 4. verify — every store reads back the new fingerprint, and the probe app accepts it
        await step(
          'verify',
          async () => {
            const [stores, probed] = await Promise.all([
              Promise.all(targets.map((t, i) => readBack(t, receipts[i]!))),
              plan.hasProbe ? probe.probeCredential({ ...token, ref: fresh.ref, expect: 'accepted' }) : Promise.resolve(null),
            ]);
            return { stores, probed };
          },
          (r) => ({ stores: r.stores, probeStatus: r.probed?.status ?? null }),
        );
        break;
      } catch (error) {
        // rotate-secret cannot be undone: keep the previous secret valid and try again.
        if (strategy !== 'rotate-secret' || revoke || round >= PROPAGATION_ROUNDS) throw error;
        await step('extend previous secret', () => cloudflare().setPreviousSecretExpiry({ ...token, tokenId: old.tokenId, expiresAt: iso(Date.now() + RECOVERY_WINDOW_MS) }), () => ({ until: iso(Date.now() + RECOVERY_WINDOW_MS), alert: 'propagation failing; previous secret kept valid' }));
        log.warn('propagation failed; previous secret extended, retrying', { token: input.tokenName, round });
        await alert('warning', 'propagation-failing', `propagation of the new secret failed (round ${round} of ${PROPAGATION_ROUNDS}: ${String(failureSummary(error).message)}); the previous secret stays valid for 24 h while it is retried`);
        await sleep(Math.min(plan.overlapMs / 4, 5 * 60_000));
      }
    }

    // 5. wait — consumers pick up the new credential; an emergency revoke cuts it short
    await step(
      'wait',
      () => condition(() => revoke !== undefined, plan.propagationWaitMs),
      (revoked) => ({ waitedMs: plan.propagationWaitMs, cutShortBy: revoked ? (revoke?.actor ?? null) : null }),
    );
  } catch (error) {
    // Runs that reached this point under older code compensated instead (patch marker for replay).
    if (revoke && resolved && issued && patched('emergency-failure-ends-compromised')) await containCompromised(error, revoke, resolved, issued);
    progress.phase = 'compensate';
    const startedAt = iso(Date.now());
    const undone: string[] = [];
    const failedCompensations: Array<{ name: string; error: Record<string, unknown> }> = [];
    const keptValid: string[] = [];
    let storesRestored = true;
    for (const entry of compensations.reverse()) {
      const compensation = revoke && entry.whenRevoked ? entry.whenRevoked : entry;
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
    // "compensated" only when something was undone and nothing was left half-undone.
    const status = undone.length && !failedCompensations.length && !keptValid.length ? 'compensated' : 'failed';
    const outcome = { error: failureSummary(error), compensated: undone, failedCompensations, keptValid };
    const stepOutcome = status === 'compensated' ? 'compensated' : undone.length || failedCompensations.length ? 'failed' : 'skipped';
    progress.steps.push({ seq: ++seq, step: 'compensate', outcome: stepOutcome, startedAt, finishedAt: iso(Date.now()), details: outcome });
    await records.recordRotationStep({ runId, seq, step: 'compensate', outcome: stepOutcome, startedAt, details: outcome });
    await records.finishRotationRecord({ runId, status, outcome });
    progress.phase = status;
    await alert(
      status === 'compensated' ? 'warning' : 'critical',
      status === 'compensated' ? 'rotation-compensated' : 'rotation-failed',
      status === 'compensated'
        ? `rotation failed before retire and was undone (${String(outcome.error.message)}); the previous credential is in use`
        : `rotation failed before retire and could ${undone.length ? 'only partly' : 'not'} be undone (${String(outcome.error.message)})${keptValid.length ? '; both tokens were kept valid' : ''}: needs an operator`,
    );
    throw ApplicationFailure.create({
      message: `rotation of ${input.tokenName} failed before retire and was ${status === 'compensated' ? 'compensated' : undone.length ? 'only partly compensated' : 'not compensated'}: ${String(outcome.error.message)}`,
      type: status === 'compensated' ? 'RotationCompensated' : 'RotationFailed',
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
      await step('retire strays', async () => {
        for (const tokenId of strays) {
          await retire().unbindTokenFromPolicies({ accountId: input.accountId, tokenId });
          await retire().deleteServiceToken({ ...token, tokenId });
        }
      }, () => ({ deletedTokenIds: strays }));
    }
    // The old credential is probed before finish wipes its row; a probe that keeps accepting
    // it does not hold finish back, so the record still names the live credential.
    const stillAccepted = await confirmRevoked();

    // 7. finish — the new credential becomes current; the pending row is wiped
    await step('finish', () => records.promoteSecret({ ref: done.ref }), () => ({ fingerprint: done.fingerprint }));
    if (stillAccepted) throw stillAccepted;
  } catch (error) {
    // Past retire nothing is undone (every store holds the new credential), but the run must
    // not stay "running" in the history: it failed at this step and needs an operator.
    const phase = progress.phase;
    progress.phase = 'failed';
    await records.finishRotationRecord({ runId, status: 'failed', outcome: { error: failureSummary(error), phase, afterRetire: true } });
    await alert('critical', 'failed-after-retire', `rotation failed after retire, at ${phase} (${String(failureSummary(error).message)}): every store holds the new credential; needs an operator`);
    throw error;
  }
  const result: RotationResult = { status: 'completed', strategy, tokenId: done.tokenId, clientId: done.clientId, fingerprint: done.fingerprint, recoveredLostSecret, emergency: Boolean(revoke) };
  await records.finishRotationRecord({ runId, status: 'completed', outcome: { ...result, revokedBy: revoke?.actor ?? null, revokeReason: revoke?.reason ?? null } });
  progress.phase = 'done';
  if (revoke) await alert('info', 'emergency-revoked', `emergency revoke by ${revoke.actor} (${revoke.reason}) done: the old credential is dead and every store holds the new one`);
  else if (recoveredLostSecret) await alert('info', 'lost-secret-recovered', 'Cloudflare applied a rotate whose answer was lost; the rotation was finished blue/green with a new token');
  log.info('service token rotated', { token: input.tokenName, strategy, emergency: Boolean(revoke), fingerprint: done.fingerprint });
  return result;
}
