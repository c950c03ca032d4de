import {
  type ActivityOptions,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { CloudflareActivities, LocalActivities } from '../../activities';
import type { PlannedTarget, RotationPlan } from '../../activities/rotation-records';
import type { WriteAnswer } from '../../activities/propagation';
import type { TokenKey } from '../../secrets/pending-secrets';
import type { Lane } from '../../cloudflare/budget/lanes';
import {
  CloudflareAccountId,
  RotationStrategy,
  TokenKind,
  TokenName,
  TriggeredBy,
} from '../../temporal/search-attributes';
import {
  evidenceReads,
  historyWrites,
  retireCalls,
  rotationAlerts,
  rotationCloudflareCalls,
  rotationHistoryWrites,
  storeWrites,
  storeWritesToTheEnd,
  verification,
} from '../activity-options';
import { CLOUDFLARE_CALL_WITH_BUDGET_WAIT, cloudflareQueue } from '../lanes';
import { emergencyRevokeSignal, progressQuery, type EmergencyRevokeRequest, type RotationProgress } from './messages';
import type { HoldState } from './propagation';
import { rotationPatches, type RotationPatches } from './patches';
import { RotationRecorder } from './recorder';
import { Saga } from './saga';

import { laneOfRotation, type CredentialKind, type RotateServiceTokenInput, type StrategyName } from './run-input';

export { laneOfRotation, type CredentialKind, type RotateServiceTokenInput, type StrategyName };

/** Activities on the lane of the request budget this run deserves when they are called. */
type OnLane = () => CloudflareActivities;

/**
 * One rotation run: who it rotates, what it was told (a revoke), the activities it calls (its
 * Cloudflare calls on the lane it deserves now), its recorder and saga, and what the steps
 * learned on the way that later steps decide on.
 */
export class RotationRun {
  readonly token: TokenKey;
  readonly kind: CredentialKind;
  readonly workflowId: string;
  readonly runId: string;
  readonly recorder: RotationRecorder;
  /** The patches this run takes (patches.ts). */
  readonly patches: RotationPatches;
  readonly saga = new Saga(log);
  readonly records = proxyActivities<LocalActivities>(rotationHistoryWrites);
  readonly probe = proxyActivities<LocalActivities>(verification);
  /** Cloudflare calls that may be retried a few times, and retire's, retried until answered. */
  readonly cloudflare: OnLane;
  readonly retire: OnLane;
  /**
   * Reads that only gather evidence (the wait's `last_seen_at` polls): the scheduled lane of the
   * request budget whatever the run's mode, so polling never crowds out interactive work.
   */
  readonly evidence: CloudflareActivities;
  private readonly cloudflareStores: OnLane;
  /** Cloudflare reads that verify: retried until they confirm. */
  readonly cloudflareVerification: OnLane;
  private readonly localStores: LocalActivities;
  private revoke: EmergencyRevokeRequest | undefined;
  private planned: RotationPlan | undefined;
  strategy: StrategyName = 'replace';

  /** The old credential died in the call that issued its successor (an emergency). */
  killedOldFirst = false;
  /** The old token's previous secret was alive at resolve: an earlier run ended part-way. */
  afterPartialRun = false;
  /** Set when a failed replace must neither restore the stores nor take its new token away. */
  keepBothTokens = false;
  /** Cloudflare rotated but its answer was lost; the run finished blue/green. */
  recoveredLostSecret = false;
  /** When the old token's previous secret expires, as issue set it (rotate-secret). */
  previousValidUntil = 0;
  /** rotate-secret past issue: propagation keeps going, and this is where it stands. */
  hold: HoldState | undefined;

  constructor(readonly input: RotateServiceTokenInput) {
    ({ workflowId: this.workflowId, runId: this.runId } = workflowInfo());
    this.kind = input.credential ?? 'service-token';
    this.token = { accountId: input.accountId, tokenName: input.tokenName };
    if (input.credential) this.token.credential = input.credential;
    if (input.mode === 'emergency')
      this.revoke = { actor: input.trigger.actor, reason: input.trigger.reason ?? 'emergency revoke' };
    this.patches = rotationPatches();
    const { besideTheWork } = this.patches;
    const progress: RotationProgress = {
      ...this.token,
      mode: input.mode,
      strategy: null,
      phase: 'plan',
      emergency: Boolean(this.revoke),
      steps: [],
    };
    const notifications = proxyActivities<LocalActivities>(rotationAlerts);
    const context = { token: this.token, workflowId: this.workflowId, runId: this.runId, progress };
    const localRecords = proxyLocalActivities<LocalActivities>(historyWrites);
    this.recorder = new RotationRecorder(
      { ...context, records: this.records, localRecords, notifications },
      besideTheWork,
      this.patches.fewerRoundTrips,
      this.patches.rowsRideAlong,
    );
    setHandler(emergencyRevokeSignal, (request) => this.revokeSignalled(request));
    setHandler(progressQuery, () => progress);

    // Runs recorded before lanes existed keep the one queue they used (cloudflareQueue).
    this.cloudflare = this.onLane(rotationCloudflareCalls);
    this.retire = this.onLane(retireCalls);
    this.cloudflareStores = this.onLane(besideTheWork ? storeWritesToTheEnd : storeWrites);
    this.localStores = proxyActivities<LocalActivities>(besideTheWork ? storeWritesToTheEnd : storeWrites);
    this.cloudflareVerification = this.onLane(verification);
    this.evidence = proxyActivities<CloudflareActivities>({
      ...evidenceReads,
      startToCloseTimeout: CLOUDFLARE_CALL_WITH_BUDGET_WAIT,
      taskQueue: cloudflareQueue('scheduled', this.patches.baseline),
    });
  }

  get progress() {
    return this.recorder.progress;
  }

  get plan(): RotationPlan {
    if (!this.planned) throw new Error('the rotation has no plan yet');
    return this.planned;
  }

  /** Zone-scoped tokens have no rotate endpoint: they can only be replaced. */
  get canRotate(): boolean {
    return !this.plan.zoneScoped;
  }

  /** The emergency revoke this run was started with or told of, if any. */
  revoked(): EmergencyRevokeRequest | undefined {
    return this.revoke;
  }

  step: RotationRecorder['step'] = (name, run, describe) => this.recorder.step(name, run, describe);

  /**
   * The plan is known: alerts have somewhere to go, and the strategy is chosen (any token that
   * can be rotated is rotated in place in an emergency, so the call that issues the successor
   * kills the old secret) and made searchable.
   */
  begin(plan: RotationPlan): void {
    const { input } = this;
    this.planned = plan;
    this.recorder.alertTo(plan.notifyChannels);
    // An API token's strategy is its own: its emergency kills the old value inside the run (rotate-api-token.ts).
    this.strategy =
      this.kind === 'api-token'
        ? plan.strategy
        : !this.canRotate
          ? 'replace'
          : this.revoked()
            ? 'rotate-secret'
            : plan.strategy;
    this.progress.strategy = this.strategy;
    upsertSearchAttributes([
      { key: TokenName, value: input.tokenName },
      { key: CloudflareAccountId, value: input.accountId },
      { key: RotationStrategy, value: this.strategy },
      { key: TokenKind, value: this.kind },
      { key: TriggeredBy, value: input.trigger.actor },
    ]);
  }

  /** `patched(id)`, unless the run started since the baseline, which holds every patch with one marker. */
  since(id: string): boolean {
    return this.patches.baseline || patched(id);
  }

  /** Who asked for this run, and why (DESIGN §5.5). */
  recordAudit(): Promise<void> {
    const { input, workflowId, runId } = this;
    return this.recorder.audit('audit', {
      actor: input.trigger.actor,
      action: `rotate.${input.mode}`,
      subject: input.tokenName,
      workflowId,
      runId,
      details: {
        accountId: input.accountId,
        reason: input.trigger.reason ?? null,
        ...(input.credential ? { kind: input.credential } : {}),
      },
    });
  }

  /** The run's history row. */
  recordStart(): Promise<void> {
    const { input, workflowId, runId } = this;
    const { accountId, tokenName } = this.token;
    const row = { runId, workflowId, accountId, tokenName, strategy: this.strategy, mode: input.mode };
    return this.recorder.start({ ...row, triggeredBy: input.trigger.actor, kind: this.kind });
  }

  /** The strategy the run turned to, in the progress query and the search attributes alike. */
  switchStrategy(next: StrategyName): void {
    if (next === this.strategy) return;
    this.strategy = next;
    this.progress.strategy = next;
    upsertSearchAttributes([{ key: RotationStrategy, value: next }]);
  }

  // Store writes for Workers and Secrets Store are Cloudflare calls: rate-limited queue.
  storesOf(target: PlannedTarget): Pick<LocalActivities, 'propagateToStore' | 'restoreStore'> {
    return target.viaCloudflare ? this.cloudflareStores() : this.localStores;
  }

  /** Writes `ref` to one store; a later round writes everything again, so a binding someone deleted is restored. */
  write(target: PlannedTarget, ref: string, round: number): Promise<WriteAnswer> {
    const readBack = this.patches.readBackInWrite && !target.viaCloudflare;
    return this.storesOf(target).propagateToStore({
      ...this.token,
      targetIndex: target.index,
      ref,
      round,
      ...(readBack ? { readBack } : {}),
    });
  }

  /** What the store holds: read back in the write already, or asked now (retried until it confirms). */
  readBack(target: PlannedTarget, { readBack, ...receipt }: WriteAnswer) {
    if (readBack) return Promise.resolve(readBack);
    const via = target.viaCloudflare ? this.cloudflareVerification() : this.probe;
    return via.verifyStore({ ...this.token, targetIndex: target.index, receipt });
  }

  restore(target: PlannedTarget, ref: string) {
    return this.storesOf(target).restoreStore({ ...this.token, targetIndex: target.index, ref });
  }

  private revokeSignalled(request: EmergencyRevokeRequest): void {
    this.revoke ??= request;
    this.progress.emergency = true;
    // Every trigger leaves an audit row (DESIGN §5.5): the signal's is written when it arrives.
    if (this.recorder.besideTheWork)
      void this.recorder.audit('audit (revoke signal)', {
        actor: request.actor,
        action: 'revoke.signal',
        subject: this.input.tokenName,
        workflowId: this.workflowId,
        runId: this.runId,
        details: { accountId: this.input.accountId, reason: request.reason },
      });
  }

  /**
   * Cloudflare calls go to the lane of the request budget this run deserves now: a revoke
   * arriving mid-run moves every later call ahead of routine work.
   */
  private onLane(options: ActivityOptions): OnLane {
    const make = (lane: Lane) =>
      proxyActivities<CloudflareActivities>({
        ...options,
        startToCloseTimeout: CLOUDFLARE_CALL_WITH_BUDGET_WAIT,
        taskQueue: cloudflareQueue(lane, this.patches.baseline),
      });
    const byLane = { emergency: make('emergency'), interactive: make('interactive'), scheduled: make('scheduled') };
    return () => byLane[this.revoked() ? 'emergency' : laneOfRotation(this.input.mode)];
  }
}
