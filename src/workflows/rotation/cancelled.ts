import { CancellationScope, isCancellation, log } from '@temporalio/workflow';
import type { IssuedSecret, ResolvedServiceToken } from '../../activities/service-tokens';
import { failureSummary } from '../failures';
import { RECOVERY_WINDOW_MS, type HoldState } from './propagation';
import type { RotationRun } from './run';
import { iso } from './support';

/**
 * An operator cancelled a rotate-secret run past issue. Nothing can undo the rotate: the new
 * secret is Cloudflare's current one, the only one that does not expire, so it becomes the
 * credential on record (what every store is meant to hold, and what a later compensation would
 * restore); the previous one is given a whole recovery window from now. Both stay valid, the
 * stores keep what they hold, and the run says which of them miss the new secret. Undefined when
 * the run was not cancelled while it held on.
 */
export function leaveBothValidIfCancelled(
  run: RotationRun,
  error: unknown,
  old: ResolvedServiceToken | undefined,
  fresh: IssuedSecret | undefined,
): Promise<never> | undefined {
  const state = run.hold;
  if (!state || !old || !fresh || !isCancellation(error)) return undefined;
  return leaveBothValid(run, error, old, fresh, state);
}

async function leaveBothValid(
  run: RotationRun,
  error: unknown,
  old: ResolvedServiceToken,
  fresh: IssuedSecret,
  state: HoldState,
): Promise<never> {
  const { token, recorder } = run;
  await CancellationScope.nonCancellable(async () => {
    const until = Date.now() + RECOVERY_WINDOW_MS;
    try {
      await run.step(
        'extend previous secret',
        () => run.cloudflare().setPreviousSecretExpiry({ ...token, tokenId: old.tokenId, expiresAt: iso(until) }),
        () => ({ until: iso(until), reason: 'cancelled: both secrets stay valid' }),
      );
      state.previousValidUntil = until;
    } catch (extendError) {
      log.error('extending the previous secret after a cancel failed', {
        token: token.tokenName,
        error: failureSummary(extendError),
      });
    }
    try {
      await run.step(
        'make new secret current',
        () => run.records.promoteSecret({ ref: fresh.ref }),
        () => ({ fingerprint: fresh.fingerprint }),
      );
    } catch (promoteError) {
      log.error('recording the new secret as current after a cancel failed', {
        token: token.tokenName,
        error: failureSummary(promoteError),
      });
    }
    run.progress.phase = 'cancelled';
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
      `rotation of ${token.tokenName} was cancelled before it finished: both the new secret (Cloudflare's current one) and the previous one stay valid, the previous one until ${iso(state.previousValidUntil)}; ${missing.length ? `${missing.join(', ')} still hold the previous one and stop working then unless given the new one` : 'every store holds the new secret'}. The next rotation finishes blue/green`,
    );
  });
  throw error;
}
