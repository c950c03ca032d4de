import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import type { ResolvedServiceToken } from '../../activities/service-tokens';
import { failureSummary } from '../failures';
import { announce, outcomeOf, resultOf, type Issued, type RotationResult } from './endings';
import type { RotationRun } from './run';
import { iso } from './support';

/**
 * A rotate-secret run retires and finishes in one call (runs since `rotation-retire-and-finish`):
 * nothing stands between the two steps when no revoke came (no probe of the old secret) and no
 * stray token of its name is left to delete.
 */
export function retiresWithFinish(run: RotationRun, old: ResolvedServiceToken): boolean {
  return (
    run.patches.retireWithFinish &&
    run.strategy === 'rotate-secret' &&
    !run.killedOldFirst &&
    !run.revoked() &&
    !old.strays?.length
  );
}

/**
 * 6. retire — the previous secret expires now — and 7. finish — the new secret becomes current —
 * in one activity, in that order, which also writes the run's last rows: both steps' and the
 * outcome, standing only if it succeeds. A failure records the step it failed at (retire, unless
 * it is the promote's) and is thrown: past the point of no return, the run fails after retire.
 */
export async function retireAndComplete(
  run: RotationRun,
  old: ResolvedServiceToken,
  fresh: Issued,
): Promise<RotationResult> {
  const { recorder } = run;
  const result = resultOf(run, fresh);
  run.progress.phase = 'retire';
  const startedAt = iso(Date.now());
  const retire = { previousSecretExpiredAt: startedAt };
  const retired = recorder.okStep(recorder.nextSeq(), 'retire', startedAt, retire);
  const finished = recorder.okStep(recorder.nextSeq(), 'finish', startedAt, { fingerprint: fresh.fingerprint });
  try {
    await recorder.along(
      (rows) =>
        run.retire().retirePreviousSecretAndPromote({
          ...run.token,
          tokenId: old.tokenId,
          expiresAt: startedAt,
          ref: fresh.ref,
          ...(rows ? { rows } : {}),
        }),
      [retired, finished, recorder.outcomeRow('completed', outcomeOf(run, result))],
    );
  } catch (error) {
    if (failedAtFinish(error)) {
      await recorder.recordStep(retired.seq, 'retire', 'ok', startedAt, retire);
      run.progress.phase = 'finish';
      await recorder.recordStep(finished.seq, 'finish', 'failed', startedAt, failureSummary(error));
    } else await recorder.recordStep(retired.seq, 'retire', 'failed', startedAt, failureSummary(error));
    throw error;
  }
  retired.done();
  finished.done();
  return announce(run, result);
}

/** The promote's one final failure (rotation-records.ts): retire, before it, was done. */
function failedAtFinish(error: unknown): boolean {
  const cause = error instanceof ActivityFailure ? error.cause : undefined;
  return cause instanceof ApplicationFailure && cause.type === 'PendingSecretMissing';
}
