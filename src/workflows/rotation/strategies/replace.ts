import { log, uuid4, workflowInfo } from '@temporalio/workflow';
import type { IssuedSecret, ResolvedServiceToken } from '../../../activities/service-tokens';
import type { RotationRun } from '../run';
import { allSettled, iso } from '../support';
import type { RotationStrategy } from './strategy';

/** Patch: a blue/green run after a partial one never restores stores nor deletes its new token on failure. */
const AFTER_PARTIAL_RUN_KEEPS_BOTH = 'blue-green-after-partial-run-keeps-both';

/**
 * Blue/green: a new token beside the old one in every Access policy that names it; the stores
 * are given it, and retire unbinds and deletes the old token. Until then a failure restores the
 * stores and takes the new token away, when that is safe (saga.ts).
 */
export const replace: RotationStrategy = {
  name: 'replace',

  async issue(run: RotationRun, old: ResolvedServiceToken): Promise<IssuedSecret> {
    const { token, plan, saga } = run;
    const replacement = await run.step(
      'issue',
      () =>
        run.cloudflare().createReplacementToken({
          ...token,
          oldTokenId: old.tokenId,
          strays: old.strays ?? [],
          ref: uuid4(),
          notBefore: iso(workflowInfo().startTime.getTime() - 60_000),
          duration: plan.duration,
        }),
      (r) => ({ strategy: 'replace', tokenId: r.tokenId, clientId: r.clientId, fingerprint: r.fingerprint }),
    );
    // After a partial run the credential on record may be the old token's previous secret, which
    // expires, while some stores hold its current one, which does not: "restoring" them would
    // hand them a secret that dies with the recovery window. A failure keeps both tokens instead.
    run.keepBothTokens = run.afterPartialRun && !run.revoked() && run.since(AFTER_PARTIAL_RUN_KEEPS_BOTH);
    if (run.keepBothTokens) saga.keepValid('unbind new token', 'delete new token');
    // Undoing a replace deletes the new token, which is safe only if every store can be given
    // the old credential back. Without it, both tokens stay valid and bound (and it is logged).
    if (plan.currentRef !== null && !run.keepBothTokens) {
      saga.push({
        name: 'delete new token',
        run: () => run.cloudflare().deleteServiceToken({ ...token, tokenId: replacement.tokenId }),
        revokesNew: true,
      });
      saga.push({ name: 'discard pending secret', run: () => run.records.discardSecret({ ref: replacement.ref }) });
      // Pushed before the bind: it edits one policy after another and may fail part-way, and
      // unbinding is idempotent, so the policies it did reach are cleaned before the delete.
      saga.push({
        name: 'unbind new token',
        run: () =>
          run.cloudflare().unbindTokenFromPolicies({ accountId: token.accountId, tokenId: replacement.tokenId }),
        revokesNew: true,
      });
    } else if (run.keepBothTokens) {
      log.warn(
        'previous secret of an earlier run still alive: a failed replace will leave both tokens valid and restore no store',
        { token: token.tokenName },
      );
    } else {
      log.warn('no current credential on record: a failed replace will leave both tokens valid', {
        token: token.tokenName,
      });
    }
    await run.step(
      'bind',
      () =>
        run.cloudflare().bindTokenToPolicies({
          accountId: token.accountId,
          besideTokenId: old.tokenId,
          newTokenId: replacement.tokenId,
        }),
      (policies) => ({ policies }),
    );
    return replacement;
  },

  /** A failed round compensates; the stores are given the current credential back (unless both tokens are kept). */
  onPropagationFailure(run: RotationRun) {
    return {
      until: 'rounds',
      beforeFirstRound() {
        const { plan } = run;
        const previous = plan.currentRef;
        if (!previous || run.keepBothTokens) return;
        run.saga.push({
          name: 'restore stores',
          run: () => allSettled(plan.targets.map((t) => run.restore(t, previous))),
          restoresStores: true,
        });
      },
    };
  },

  async retire(run: RotationRun, old: ResolvedServiceToken): Promise<void> {
    const { token } = run;
    await run.step(
      'retire',
      async () => {
        const unbound = await run
          .retire()
          .unbindTokenFromPolicies({ accountId: token.accountId, tokenId: old.tokenId });
        await run.retire().deleteServiceToken({ ...token, tokenId: old.tokenId });
        return unbound;
      },
      (policies) => ({ deletedTokenId: old.tokenId, policies }),
    );
  },
};
