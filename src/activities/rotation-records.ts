import { durationMs, type Inventory, type ServiceTokenConfig } from '../config';
import type { RotationStart, RotationStatus, RotationStepRecord } from '../db/rotation-repository';
import { splitApiTokenTarget, successorName, type ApiTokenRotateConfig } from '../api-token-rotate-config';
import { findApiToken, findServiceToken } from '../inventory';
import type { PendingSecretStore, TokenKey } from '../secrets/pending-secrets';
import { propagationTargetSchema, targetLabel } from '../stores';
import { permanentFailure } from './failure-types';
import { writeHistory } from './history-writes';
import { createRotationRowActivities, type RotationRow, type RotationRowDeps } from './rotation-rows';
import { configuredChannels, type NotifyChannel } from './notify';
import { describeDataError, isDataError } from './postgres-errors';

export interface RotationRecordDeps extends RotationRowDeps {
  inventory: Pick<Inventory, 'accounts' | 'notify'>;
  pending: Pick<PendingSecretStore, 'current' | 'promote' | 'discard'>;
}

export interface PlannedTarget {
  index: number;
  kind: string;
  label: string;
  /** Workers and Secrets Store writes are Cloudflare calls: they go through the rate-limited queue. */
  viaCloudflare: boolean;
}

export interface RotationPlan {
  strategy: ServiceTokenConfig['strategy'] | ApiTokenRotateConfig['strategy'];
  overlapMs: number;
  propagationWaitMs: number;
  duration: string;
  hasProbe: boolean;
  zoneScoped: boolean;
  targets: PlannedTarget[];
  /** The credential the stores hold now, if token-warden knows it (what compensation restores). */
  currentRef: string | null;
  currentFingerprint: string | null;
  /** Where alerts about this rotation go (the inventory's `notify`). */
  notifyChannels: NotifyChannel[];
  /** An API token's successor's name (its `rotate.name` template, filled in). */
  successorName?: string;
}

function planTarget(stored: unknown, index: number, accountId: string): PlannedTarget {
  const { target, r2 } = splitApiTokenTarget(stored);
  const parsed = propagationTargetSchema.safeParse(target);
  if (!parsed.success) throw permanentFailure('InvalidTarget', `propagation target #${index} is invalid`);
  const t = parsed.data;
  return {
    index,
    kind: t.kind,
    label: `${targetLabel(t, accountId)}${r2 ? ' (R2 S3 keys)' : ''}`,
    viaCloudflare: t.kind === 'workers-secret' || t.kind === 'secrets-store',
  };
}

/** A reference Postgres cannot even compare (not a uuid) names no staged secret, now or later. */
async function withRef(ref: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (error) {
    if (isDataError(error))
      throw permanentFailure(
        'PendingSecretMissing',
        `pending secret reference ${JSON.stringify(ref)} is not valid (${describeDataError(error)})`,
      );
    throw error;
  }
}

/** Plan, history rows and the pending-secret lifecycle: Postgres work on the main queue. */
export function createRotationRecordActivities(deps: RotationRecordDeps) {
  /** An API token's plan: its `rotate:` settings; verification asks Cloudflare instead of a probe app. */
  async function planApiTokenRotation(token: TokenKey): Promise<RotationPlan> {
    const rotate = findApiToken(deps.inventory, token.accountId, token.tokenName)?.token.rotate;
    if (!rotate)
      throw permanentFailure(
        'UnknownApiToken',
        `API token ${token.tokenName} of account ${token.accountId} is not in the inventory with rotate:`,
      );
    const current = await deps.pending.current(token);
    return {
      strategy: rotate.strategy,
      overlapMs: 0,
      propagationWaitMs: durationMs(rotate.propagationWait),
      duration: rotate.duration,
      hasProbe: true,
      zoneScoped: false,
      targets: rotate.targets.map((target, i) => planTarget(target, i, token.accountId)),
      currentRef: current?.ref ?? null,
      currentFingerprint: current?.fingerprint ?? null,
      notifyChannels: configuredChannels(deps.inventory.notify),
      successorName: successorName(rotate.name, token.tokenName, Date.now()),
    };
  }

  const { recordRotationRows } = createRotationRowActivities(deps);
  return {
    async planRotation(token: TokenKey): Promise<RotationPlan> {
      if (token.credential === 'api-token') return planApiTokenRotation(token);
      const entry = findServiceToken(deps.inventory, token.accountId, token.tokenName);
      if (!entry)
        throw permanentFailure(
          'UnknownServiceToken',
          `service token ${token.tokenName} is not in the inventory of account ${token.accountId}`,
        );
      const current = await deps.pending.current(token);
      return {
        strategy: entry.token.strategy,
        overlapMs: durationMs(entry.token.overlap),
        propagationWaitMs: durationMs(entry.token.propagationWait),
        duration: entry.token.duration,
        hasProbe: Boolean(entry.token.probeUrl),
        zoneScoped: Boolean(entry.token.zoneId),
        targets: entry.token.targets.map((target, i) => planTarget(target, i, token.accountId)),
        currentRef: current?.ref ?? null,
        currentFingerprint: current?.fingerprint ?? null,
        notifyChannels: configuredChannels(deps.inventory.notify),
      };
    },
    // History rows: retried through an outage, never for a row Postgres refuses (history-writes.ts).
    recordRotationStart: (start: RotationStart) => writeHistory('rotation row', start, deps.rotations.startRotation),
    recordRotationStep: (step: RotationStepRecord) =>
      writeHistory(`rotation step row (${step.step})`, step, deps.rotations.recordStep),
    finishRotationRecord: (input: {
      runId: string;
      status: Exclude<RotationStatus, 'running'>;
      outcome: Record<string, unknown>;
    }) =>
      writeHistory('rotation outcome', input, (row) =>
        deps.rotations.finishRotation(row.runId, row.status, row.outcome),
      ),
    /**
     * Step 7. `rows`: the run's last history rows, its own step's and its outcome among them
     * (rows ride along, workflows/rotation/row-batches.ts), written once the promote is done. A
     * retry after Postgres went away promotes again, which changes nothing the second time.
     */
    async promoteSecret(input: { ref: string; rows?: RotationRow[] }) {
      await withRef(input.ref, () => deps.pending.promote(input.ref));
      return input.rows ? { rowResults: await recordRotationRows(input.rows) } : {};
    },
    discardSecret: async (input: { ref: string }) => withRef(input.ref, () => deps.pending.discard(input.ref)),
  };
}
