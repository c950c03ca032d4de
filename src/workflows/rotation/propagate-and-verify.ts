import type { IssuedSecret } from '../../activities/service-tokens';
import { failureMessage } from '../failures';
import { propagateInRounds, propagateUntilHeld, type PropagationIo } from './propagation';
import type { RotationRun } from './run';
import type { PropagationPolicy } from './strategies/strategy';

/** Rounds of propagation that compensate after the last one (and rotate-secret runs recorded before `rotate-secret-propagates-until-held`). */
const PROPAGATION_ROUNDS = 3;

/**
 * 3. propagate — every store, each write idempotent — and 4. verify — every store reads back the
 * new fingerprint, and the probe app accepts it. A failed round does what the strategy's policy says.
 * Not async: the workflow awaits the propagation's own promise (replay, strategies/strategy.ts).
 */
export function propagateAndVerify(
  run: RotationRun,
  fresh: Pick<IssuedSecret, 'ref'>,
  policy: PropagationPolicy,
): Promise<void> {
  const { plan, token } = run;
  const io: PropagationIo = {
    recorder: run.recorder,
    targets: plan.targets,
    hasProbe: plan.hasProbe,
    write: (target, round) => run.write(target, fresh.ref, round),
    readBack: (target, receipt) => run.readBack(target, receipt),
    // An API token's consumer is Cloudflare itself: the new value must pass verify and hold every required permission.
    probe: () =>
      run.kind === 'api-token'
        ? run.cloudflareVerification().verifyApiTokenSuccessor({ ...token, credential: 'api-token', ref: fresh.ref })
        : run.probe.probeCredential({ ...token, ref: fresh.ref, expect: 'accepted' }),
  };
  if (policy.until === 'held') {
    run.hold = { missing: plan.targets, probed: !plan.hasProbe, previousValidUntil: run.previousValidUntil };
    return propagateUntilHeld(io, run.hold, {
      tokenName: token.tokenName,
      revoked: () => run.revoked() !== undefined,
      extendPrevious: policy.extendPrevious,
      firstPauseMs: Math.min(plan.overlapMs / 4, 60_000),
    });
  }
  return propagateInRounds(io, {
    rounds: PROPAGATION_ROUNDS,
    beforeRound: (round) => {
      if (round === 1) policy.beforeFirstRound?.();
    },
    retries: () => policy.retry?.while() ?? false,
    extendPrevious: () => policy.retry?.extendPrevious() ?? Promise.resolve(),
    alertFailing: (round, error) =>
      run.recorder.alert(
        'warning',
        'propagation-failing',
        `propagation of the new secret failed (round ${round} of ${PROPAGATION_ROUNDS}: ${failureMessage(error)}); the previous secret stays valid for 24 h while it is retried`,
      ),
    pauseMs: Math.min(plan.overlapMs / 4, 5 * 60_000),
    tokenName: token.tokenName,
  });
}
