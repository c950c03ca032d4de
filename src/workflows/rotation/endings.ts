import { ApplicationFailure, CancellationScope, log } from '@temporalio/workflow';
import type { IssuedSecret } from '../../activities/service-tokens';

/** What any credential kind issued: the staged ref and who it names. */
export type Issued = Pick<IssuedSecret, 'ref' | 'fingerprint' | 'tokenId' | 'clientId'>;
import { endsWith, failureMessage, failureSummary } from '../failures';
import type { RotationRun, StrategyName } from './run';
import { compensationStatus } from './saga';
import { iso } from './support';

export interface RotationResult {
  status: 'completed';
  strategy: StrategyName;
  tokenId: string;
  clientId: string;
  fingerprint: string;
  recoveredLostSecret: boolean;
  emergency: boolean;
}

/** 7. finish — the new credential becomes current; the pending row is wiped. */
export function promote(run: RotationRun, fresh: Issued): Promise<unknown> {
  return run.step(
    'finish',
    () => run.records.promoteSecret({ ref: fresh.ref }),
    () => ({ fingerprint: fresh.fingerprint }),
  );
}

/**
 * A failure before retire: the saga undoes what the run did, newest first, and the run ends
 * `compensated` (all undone) or `failed` (an operator is needed), recorded and alerted.
 */
export async function compensateAndFail(run: RotationRun, error: unknown): Promise<never> {
  const { recorder, progress } = run;
  progress.phase = 'compensate';
  const startedAt = iso(Date.now());
  // An operator's cancel is undone like any failure: compensations are not cancelled with the
  // run (runs recorded before ran them in the run's own, cancelled, scope).
  const revoked = run.revoked() !== undefined;
  const undo = () => run.saga.compensate({ revoked });
  const { undone, failed, keptValid } = await (recorder.besideTheWork
    ? CancellationScope.nonCancellable(undo)
    : undo());
  const status = compensationStatus({ undone, failed, keptValid });
  const outcome = { error: failureSummary(error), compensated: undone, failedCompensations: failed, keptValid };
  const stepOutcome = status === 'compensated' ? 'compensated' : undone.length || failed.length ? 'failed' : 'skipped';
  await recorder.recordStep(recorder.nextSeq(), 'compensate', stepOutcome, startedAt, outcome);
  await recorder.finish(status, outcome);
  progress.phase = status;
  const message = outcome.error.message;
  await recorder.alert(
    status === 'compensated' ? 'warning' : 'critical',
    status === 'compensated' ? 'rotation-compensated' : 'rotation-failed',
    status === 'compensated'
      ? `rotation failed before retire and was undone (${message}); the previous credential is in use`
      : `rotation failed before retire and could ${undone.length ? 'only partly' : 'not'} be undone (${message})${keptValid.length ? '; both tokens were kept valid' : ''}: needs an operator`,
  );
  throw ApplicationFailure.create({
    message: `rotation of ${run.token.tokenName} failed before retire and was ${status === 'compensated' ? 'compensated' : undone.length ? 'only partly compensated' : 'not compensated'}: ${message}`,
    type: endsWith(status === 'compensated' ? 'RotationCompensated' : 'RotationFailed'),
    nonRetryable: true,
    details: [outcome],
  });
}

/**
 * Past retire nothing is undone (every store holds the new credential), but the run must not
 * stay "running" in the history: it failed at this step and needs an operator.
 */
export async function failAfterRetire(run: RotationRun, error: unknown): Promise<never> {
  const phase = run.progress.phase;
  run.progress.phase = 'failed';
  await run.recorder.finish('failed', { error: failureSummary(error), phase, afterRetire: true });
  await run.recorder.alert(
    'critical',
    'failed-after-retire',
    `rotation failed after retire, at ${phase} (${failureMessage(error)}): every store holds the new credential; needs an operator`,
  );
  throw error;
}

/** The run's result, recorded and (for a revoke or a recovered secret) announced. */
export async function complete(run: RotationRun, fresh: Issued): Promise<RotationResult> {
  const result = resultOf(run, fresh);
  await run.recorder.finish('completed', outcomeOf(run, result));
  return announce(run, result);
}

/**
 * 7. finish and the run's outcome in one round trip (runs since `rotation-rows-ride-along`): the
 * promote writes the rows the run has left, its own step's and the outcome among them, which
 * stand only if it succeeds. A failed promote records its step as failed and is thrown.
 */
export async function promoteAndComplete(run: RotationRun, fresh: Issued): Promise<RotationResult> {
  const { recorder } = run;
  const result = resultOf(run, fresh);
  run.progress.phase = 'finish';
  const startedAt = iso(Date.now());
  const seq = recorder.nextSeq();
  const finished = recorder.okStep(seq, 'finish', startedAt, { fingerprint: fresh.fingerprint });
  try {
    await recorder.along(
      (rows) => run.records.promoteSecret({ ref: fresh.ref, ...(rows ? { rows } : {}) }),
      [finished, recorder.outcomeRow('completed', outcomeOf(run, result))],
    );
  } catch (error) {
    await recorder.recordStep(seq, 'finish', 'failed', startedAt, failureSummary(error));
    throw error;
  }
  finished.done();
  return announce(run, result);
}

export function resultOf(run: RotationRun, fresh: Issued): RotationResult {
  return {
    status: 'completed',
    strategy: run.strategy,
    tokenId: fresh.tokenId,
    clientId: fresh.clientId,
    fingerprint: fresh.fingerprint,
    recoveredLostSecret: run.recoveredLostSecret,
    emergency: Boolean(run.revoked()),
  };
}

export function outcomeOf(run: RotationRun, result: RotationResult): Record<string, unknown> {
  const request = run.revoked();
  return { ...result, revokedBy: request?.actor ?? null, revokeReason: request?.reason ?? null };
}

export async function announce(run: RotationRun, result: RotationResult): Promise<RotationResult> {
  const request = run.revoked();
  run.progress.phase = 'done';
  if (request)
    await run.recorder.alert(
      'info',
      'emergency-revoked',
      `emergency revoke by ${request.actor} (${request.reason}) done: the old credential is dead and every store holds the new one`,
    );
  else if (run.recoveredLostSecret)
    await run.recorder.alert(
      'info',
      'lost-secret-recovered',
      'Cloudflare applied a rotate whose answer was lost; the rotation was finished blue/green with a new token',
    );
  log.info(`${run.kind} rotated`, {
    token: run.token.tokenName,
    strategy: run.strategy,
    emergency: Boolean(request),
    fingerprint: result.fingerprint,
  });
  return result;
}
