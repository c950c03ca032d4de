import { ApplicationFailure, condition, log, uuid4 } from '@temporalio/workflow';
import type { RotationPlan } from '../../activities/rotation-records';
import type { IssuedSecret, ResolvedServiceToken } from '../../activities/service-tokens';
import { endsWith, failureMessage, failureSummary } from '../failures';
import { promote } from './endings';
import type { EmergencyRevokeRequest } from './messages';
import type { RotationRun } from './run';
import { describeResolved, serviceTokens } from './service-token';
import { iso } from './support';

/** Patch: a failure after a revoke ends the compromised credential (runs recorded before compensated). */
const FAILURE_ENDS_COMPROMISED = 'emergency-failure-ends-compromised';

/** The compromised secret, killed by the call that also resolved the token and issued its successor. */
export interface Killed {
  resolved: ResolvedServiceToken;
  issued: IssuedSecret;
  startedAt: string;
}

/**
 * An emergency kills the compromised secret before anything else, resolve and rotate in one
 * activity; the plan, the audit row and the run's record follow, so no bookkeeping sits on a
 * revoke's critical path. When that cannot be done (a zone-scoped token, a failure), the run
 * resolves and issues step by step as before.
 */
async function killFirst(run: RotationRun): Promise<Killed | null> {
  const startedAt = iso(Date.now());
  try {
    const killed = await run.cloudflare().revokeServiceTokenSecret({ ...run.token, ref: uuid4() });
    return killed && { ...killed, startedAt };
  } catch (error) {
    log.error('killing the compromised secret first failed: resolving and issuing step by step', {
      token: run.token.tokenName,
      error: failureSummary(error),
    });
    return null;
  }
}

/** A run started as an emergency kills first (runs recorded before kill-first keep their order). */
export function killAtStart(run: RotationRun): Promise<Killed | null> | null {
  return run.input.mode === 'emergency' && run.since('emergency-kills-first') ? killFirst(run) : null;
}

/** The plan reads Postgres; a revoke that arrives while it waits (Postgres down) kills first without it. */
export function killIfRevokedWhile(run: RotationRun, planning: Promise<RotationPlan>): Promise<Killed | null> | null {
  return run.recorder.besideTheWork && run.input.mode !== 'emergency' ? killIfRevokedBefore(run, planning) : null;
}

async function killIfRevokedBefore(run: RotationRun, planning: Promise<RotationPlan>): Promise<Killed | null> {
  const planned = await Promise.race([
    planning.then(() => true),
    condition(() => run.revoked() !== undefined).then(() => false),
  ]);
  return planned ? null : killFirst(run);
}

/** 1. resolve and 2. issue were done by the kill (the old secret died in the same call): recorded as they happened. */
export function recordKill(run: RotationRun, killed: Killed, step: 'resolve' | 'issue'): Promise<void> {
  const { recorder } = run;
  if (step === 'resolve')
    return recorder.recordStep(
      recorder.nextSeq(),
      'resolve',
      'ok',
      killed.startedAt,
      describeResolved(killed.resolved),
    );
  run.killedOldFirst = true;
  return recorder.recordStep(recorder.nextSeq(), 'issue', 'ok', killed.startedAt, {
    strategy: 'rotate-secret',
    secretVersion: killed.issued.secretVersion,
    fingerprint: killed.issued.fingerprint,
    previousSecretExpiresAt: 'at issue (emergency)',
  });
}

/** After a revoke: the probe app must now refuse what the stores held. Returns the failure, if any. */
export async function confirmRevoked(run: RotationRun): Promise<unknown> {
  const { plan } = run;
  if (!run.revoked() || !plan.hasProbe || !plan.currentRef) return undefined;
  const previous = plan.currentRef;
  try {
    await run.step(
      'confirm revoked',
      () => run.probe.probeCredential({ ...run.token, ref: previous, expect: 'rejected' }),
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
 * stores that did not receive it need an operator. Undefined when there is nothing to contain.
 */
export function containCompromised(
  run: RotationRun,
  error: unknown,
  old: ResolvedServiceToken | undefined,
  fresh: IssuedSecret | undefined,
): Promise<never> | undefined {
  const request = run.revoked();
  // Runs that reached this point under older code compensated instead (patch marker for replay).
  if (!request || !old || !fresh || !run.since(FAILURE_ENDS_COMPROMISED)) return undefined;
  return contain(run, error, request, old, fresh);
}

async function contain(
  run: RotationRun,
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
    await serviceTokens.strategy(run).retire(run, old);
    const stillAccepted = await confirmRevoked(run);
    await promote(run, fresh);
    if (stillAccepted) throw stillAccepted;
  } catch (containError) {
    contained = false;
    outcome.failedCompensations.push({ name: 'end compromised credential', error: failureSummary(containError) });
  }
  run.progress.phase = 'failed';
  await run.recorder.finish('failed', outcome);
  const message = contained
    ? `emergency revoke by ${request.actor}: the compromised credential is dead and the new one is current, but ${failureMessage(error)}: stores without the new credential cannot authenticate`
    : `emergency revoke by ${request.actor} failed (${failureMessage(error)}) and ending the compromised credential failed too: it may still be valid`;
  await run.recorder.alert('critical', 'emergency-incomplete', `${message}; needs an operator`);
  throw ApplicationFailure.create({
    message,
    type: endsWith('EmergencyRevokeIncomplete'),
    nonRetryable: true,
    details: [outcome],
  });
}
