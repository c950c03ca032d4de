import type { IssuedSecret, ResolvedServiceToken } from '../../activities/service-tokens';
import { leaveBothValidIfCancelled } from './cancelled';
import { confirmRevoked, containCompromised, killAtStart, killIfRevokedWhile, recordKill } from './emergency';
import {
  compensateAndFail,
  complete,
  failAfterRetire,
  promote,
  promoteAndComplete,
  type RotationResult,
} from './endings';
import { propagateAndVerify } from './propagate-and-verify';
import { retireAndComplete, retiresWithFinish } from './retire-and-finish';
import { RotationRun, type RotateServiceTokenInput } from './run';
import { serviceTokens } from './service-token';
import { waitBeforeRetire } from './wait';

export { emergencyRevokeSignal, progressQuery } from './messages';
export type { EmergencyRevokeRequest, RotationMode, RotationProgress, RotationStep } from './messages';
export { laneOfRotation, type RotateServiceTokenInput } from './run';
export type { RotationResult } from './endings';

/**
 * Rotates one Access service token (DESIGN.md §4): resolve → issue → propagate → verify →
 * wait → retire → finish. Until retire, a failure compensates (the saga, saga.ts); rotate-secret,
 * which cannot be undone, keeps propagating instead, and after an emergency revoke the
 * compromised credential is ended rather than given back (emergency.ts). After retire, only
 * retries forward. What a step means for each strategy is the strategy's (strategies/). The
 * workflow carries refs and fingerprints only; secrets stay in the pending-secret store. Its
 * bookkeeping (history and audit rows, alerts) is the recorder's, beside the work: the run ends
 * once it has caught up.
 *
 * Every await here stands where the code awaited before it was split up: runs in flight replay
 * only if the work takes as many promise turns as it did (strategies/strategy.ts).
 */
export async function rotateServiceToken(input: RotateServiceTokenInput): Promise<RotationResult> {
  const run = new RotationRun(input);
  try {
    return await rotate(run);
  } finally {
    await run.recorder.flush();
  }
}

async function rotate(run: RotationRun): Promise<RotationResult> {
  // 0. plan — an emergency kills the compromised secret first, before any bookkeeping
  const killedAtStart = await killAtStart(run);
  run.recorder.open();
  const { planning, resolving } = serviceTokens.planAndResolve(run, Boolean(killedAtStart));
  const killed = killedAtStart ?? (await killIfRevokedWhile(run, planning));
  run.begin(await planning);
  await run.recordAudit();
  await run.recordStart();

  let resolved: ResolvedServiceToken | undefined;
  let issued: IssuedSecret | undefined;
  try {
    // 1. resolve — the token as Cloudflare has it now (an emergency's kill resolved it already)
    resolved = killed ? killed.resolved : await serviceTokens.resolve(run, resolving);
    if (killed) await recordKill(run, killed, 'resolve');
    serviceTokens.chooseStrategy(run, resolved);

    // 2. issue — the new secret goes straight into the encrypted pending-secret store
    const old = resolved;
    const issuer = serviceTokens.issuer(run);
    try {
      issued = killed ? killed.issued : await issuer.issue(run, old);
      if (killed) await recordKill(run, killed, 'issue');
    } catch (error) {
      const fallback = killed ? undefined : issuer.recoverIssue?.(run, old, error);
      if (!fallback) throw error;
      if (fallback.first) await fallback.first;
      issued = await fallback.issueWith.issue(run, old);
    }

    // 3. propagate and 4. verify — every store reads back the new credential, and the probe app
    // accepts it; a failed round does what the strategy says
    await propagateAndVerify(run, issued, serviceTokens.strategy(run).onPropagationFailure(run, old));

    // 5. wait — consumers pick up the new credential (a replace: until one is seen using it, at
    // most the configured wait); an emergency revoke cuts it short
    await waitBeforeRetire(run, issued, Date.now());
  } catch (error) {
    // A compromised credential is ended, a cancelled rotate-secret leaves both valid; any other
    // failure is undone by the saga. Each ends the run.
    return (
      containCompromised(run, error, resolved, issued) ??
      leaveBothValidIfCancelled(run, error, resolved, issued) ??
      compensateAndFail(run, error)
    );
  }

  const old = resolved;
  const fresh = issued;
  try {
    // 6. retire — the point of no return: every store reads back the new credential
    if (retiresWithFinish(run, old)) return await retireAndComplete(run, old, fresh);
    await serviceTokens.strategy(run).retire(run, old);
    if (old.strays?.length) await serviceTokens.retireStrays(run, old);
    // The old credential is probed before finish wipes its row; a probe that keeps accepting
    // it does not hold finish back, so the record still names the live credential.
    const stillAccepted = await confirmRevoked(run);

    // 7. finish — the new credential becomes current; the pending row is wiped (with the run's last rows)
    if (run.patches.rowsRideAlong && !stillAccepted) return await promoteAndComplete(run, fresh);
    await promote(run, fresh);
    if (stillAccepted) throw stillAccepted;
  } catch (error) {
    return failAfterRetire(run, error);
  }
  return complete(run, fresh);
}
