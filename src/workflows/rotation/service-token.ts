import { log } from '@temporalio/workflow';
import type { RotationPlan } from '../../activities/rotation-records';
import type { ResolvedServiceToken } from '../../activities/service-tokens';
import type { RotationRun } from './run';
import { replace } from './strategies/replace';
import { rotateSecret } from './strategies/rotate-secret';
import type { RotationStrategy } from './strategies/strategy';

/**
 * The credential kind an Access service token is: how it is resolved, which strategy rotates
 * it, and what else of its name retire ends. Another kind (API tokens) brings its own.
 */
export const serviceTokens = {
  /** 1. resolve — the token as Cloudflare has it now. */
  resolve(run: RotationRun, begun?: Promise<ResolvedServiceToken>): Promise<ResolvedServiceToken> {
    return run.step('resolve', () => begun ?? run.cloudflare().resolveServiceToken(run.token), describeResolved);
  },

  /**
   * The plan, and resolve's read of Cloudflare beside it when no kill resolved the token already.
   * Since `rotation-plan-and-resolve` both come from one activity: one answer to wait on. Without
   * a plan in it, or when it fails, the plan is asked for alone (its own failure surfaces there),
   * and resolve's step takes the activity's error. Runs since `rotation-fewer-round-trips` sent the two side by side; earlier ones
   * only planned here. A failure of resolve surfaces in its step, or nowhere if the plan failed.
   */
  planAndResolve(
    run: RotationRun,
    killed: boolean,
  ): { planning: Promise<RotationPlan>; resolving?: Promise<ResolvedServiceToken> } {
    if (!killed && run.patches.planWithResolve) {
      const both = run.cloudflare().planAndResolveServiceToken(run.token);
      const resolving = both.then((b) => b.resolved);
      resolving.catch(() => undefined);
      const alone = () => run.records.planRotation(run.token);
      return { planning: both.then((b) => b.plan ?? alone(), alone), resolving };
    }
    const planning = run.records.planRotation(run.token);
    if (killed || !run.patches.fewerRoundTrips) return { planning };
    const resolving = run.cloudflare().resolveServiceToken(run.token);
    resolving.catch(() => undefined);
    return { planning, resolving };
  },

  /**
   * A previous secret still alive means an earlier run ended part-way (a rotate-secret
   * compensation kept it for the recovery window, a lost rotate answer): some stores may hold
   * it. A rotate would end it at once (Cloudflare keeps one previous secret), so finish
   * blue/green, which keeps both of the old token's secrets until every store holds the new one.
   */
  chooseStrategy(run: RotationRun, old: ResolvedServiceToken): void {
    const previousAlive = old.previousSecretExpiresAt !== null && Date.parse(old.previousSecretExpiresAt) > Date.now();
    run.afterPartialRun = previousAlive && !run.revoked();
    if (previousAlive && !run.revoked() && run.strategy === 'rotate-secret' && run.canRotate) {
      log.warn('previous secret still valid from an earlier run: rotating blue/green', {
        token: run.token.tokenName,
        previousSecretExpiresAt: old.previousSecretExpiresAt,
      });
      run.switchStrategy('replace');
    }
  },

  /** Who issues: a revoke rotates in place whatever was planned, when the token can be rotated. */
  issuer(run: RotationRun): RotationStrategy {
    return run.strategy === 'rotate-secret' || (run.revoked() && run.canRotate) ? rotateSecret : replace;
  },

  /** The strategy the run holds to after issue (a lost rotate answer turns it into replace). */
  strategy(run: RotationRun): RotationStrategy {
    return run.strategy === 'rotate-secret' ? rotateSecret : replace;
  },

  /**
   * Other tokens of this name (left valid by an earlier run) go too: every store has read back
   * the new credential, so none of them is what a store holds. Only when `old.strays` names any.
   */
  retireStrays(run: RotationRun, old: ResolvedServiceToken): Promise<unknown> {
    const strays = old.strays ?? [];
    return run.step(
      'retire strays',
      async () => {
        for (const tokenId of strays) {
          await run.retire().unbindTokenFromPolicies({ accountId: run.token.accountId, tokenId });
          await run.retire().deleteServiceToken({ ...run.token, tokenId });
        }
      },
      () => ({ deletedTokenIds: strays }),
    );
  },
};

export const describeResolved = (t: ResolvedServiceToken) => ({
  tokenId: t.tokenId,
  secretVersion: t.secretVersion,
  expiresAt: t.expiresAt,
  previousSecretExpiresAt: t.previousSecretExpiresAt,
  strays: t.strays ?? [],
});
