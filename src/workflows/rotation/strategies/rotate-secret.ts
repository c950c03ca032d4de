import { uuid4 } from '@temporalio/workflow';
import type { IssuedSecret, ResolvedServiceToken } from '../../../activities/service-tokens';
import { isFailure } from '../../failures';
import { RECOVERY_WINDOW_MS } from '../propagation';
import type { RotationRun } from '../run';
import { iso } from '../support';
import { replace } from './replace';
import { afterStep, type PropagationPolicy, type RotationStrategy } from './strategy';

/** Patch: rotate-secret keeps propagating until every store holds the new secret (propagation.ts). */
const PROPAGATES_UNTIL_HELD = 'rotate-secret-propagates-until-held';
/**
 * The longest one propagation round takes while some worker runs: a store write with all its
 * attempts (`storeWrites`: 6 × 1 minute plus backoff), then `verification`'s whole window.
 */
const PROPAGATION_ROUND_MS = 10 * 60 * 1000;

const setPreviousExpiry = (run: RotationRun, old: ResolvedServiceToken, until: number) =>
  run.cloudflare().setPreviousSecretExpiry({ ...run.token, tokenId: old.tokenId, expiresAt: iso(until) });

/**
 * In place: Cloudflare gives the token a new secret and keeps the previous one valid until it
 * is told otherwise. Nothing undoes a rotate, so past issue the run keeps going until every
 * store holds the new secret; retire ends the previous one.
 */
export const rotateSecret: RotationStrategy = {
  name: 'rotate-secret',

  issue(run: RotationRun, old: ResolvedServiceToken): Promise<IssuedSecret> {
    const { plan } = run;
    // Emergency: the compromised secret dies in the same call that issues its successor.
    // The previous secret outlives the first propagation round and the wait, whatever the
    // overlap: a round that is slow but succeeds (a worker killed under a store write is retried
    // a minute later) must not see it expire while stores still hold it. Retire ends it as soon
    // as every store holds the new one, so this only matters when a rotation stalls.
    const previousSecretExpiresAt = run.revoked()
      ? iso(Date.now())
      : iso(Date.now() + Math.max(plan.overlapMs, PROPAGATION_ROUND_MS + plan.propagationWaitMs));
    run.previousValidUntil = Date.parse(previousSecretExpiresAt);
    run.killedOldFirst = Boolean(run.revoked());
    const issuing = run.step(
      'issue',
      () =>
        run.cloudflare().issueRotatedSecret({
          ...run.token,
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
    return afterStep(issuing, () => {
      run.switchStrategy('rotate-secret');
      if (!run.revoked())
        run.saga.push({
          name: 'keep previous secret valid',
          run: () => setPreviousExpiry(run, old, Date.now() + RECOVERY_WINDOW_MS),
          // Only for runs replayed from before `emergency-failure-ends-compromised`: they never extend a revoked secret.
          whenRevoked: { name: 'expire revoked previous secret', run: () => setPreviousExpiry(run, old, Date.now()) },
        });
    });
  },

  /**
   * Cloudflare rotated but its answer never arrived. The stores hold what is now the previous
   * secret, valid until `previousSecretExpiresAt`; another rotate would kill it at once. Keep it
   * alive for the recovery window, then finish blue/green.
   */
  recoverIssue(run: RotationRun, old: ResolvedServiceToken, error: unknown) {
    if (!isFailure(error, 'RotatedSecretLost')) return undefined;
    run.recoveredLostSecret = true;
    run.switchStrategy('replace');
    const first = run.revoked()
      ? null
      : run.step(
          'extend previous secret',
          () => setPreviousExpiry(run, old, Date.now() + RECOVERY_WINDOW_MS),
          () => ({ until: iso(Date.now() + RECOVERY_WINDOW_MS) }),
        );
    return { first, issueWith: replace };
  },

  /**
   * rotate-secret cannot be undone once issued: it keeps going until every store holds the new
   * secret (runs recorded before gave up after three rounds and "compensated"). After a revoke
   * the first failure ends the run, and the compromised credential is contained (emergency.ts).
   */
  onPropagationFailure(run: RotationRun, old: ResolvedServiceToken): PropagationPolicy {
    if (!run.revoked() && run.since(PROPAGATES_UNTIL_HELD))
      return { until: 'held', extendPrevious: (until) => setPreviousExpiry(run, old, until) };
    return {
      until: 'rounds',
      retry: {
        while: () => !run.revoked(),
        extendPrevious: async () => void (await setPreviousExpiry(run, old, Date.now() + RECOVERY_WINDOW_MS)),
      },
    };
  },

  /** The previous secret expires now (an emergency's already died at issue). */
  async retire(run: RotationRun, old: ResolvedServiceToken): Promise<void> {
    if (run.killedOldFirst)
      await run.step(
        'retire',
        async () => undefined,
        () => ({ previousSecretExpiredAt: 'at issue (emergency)' }),
      );
    else
      await run.step(
        'retire',
        () => run.retire().setPreviousSecretExpiry({ ...run.token, tokenId: old.tokenId, expiresAt: iso(Date.now()) }),
        () => ({ previousSecretExpiredAt: iso(Date.now()) }),
      );
  },
};
