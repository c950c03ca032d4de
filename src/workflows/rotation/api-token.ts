import { msToNumber } from '@temporalio/common';
import { uuid4, workflowInfo } from '@temporalio/workflow';
import type { IssuedApiToken, ResolvedApiToken } from '../../activities/api-token-rotation';
import { isFailure } from '../failures';
import type { RotationRun } from './run';
import type { PropagationPolicy, RotationStrategy } from './strategies/strategy';
import { allSettled, iso } from './support';

type ApiTokenStrategy = RotationStrategy<ResolvedApiToken, IssuedApiToken>;

const tokenOf = (run: RotationRun, old: ResolvedApiToken) => ({
  ...run.token,
  credential: 'api-token' as const,
  kind: old.kind,
});

/** A new value for the old token; `stage`: kept for the stores (roll), or thrown away (an emergency's kill). */
const rollValue = (run: RotationRun, old: ResolvedApiToken, stage: boolean) =>
  run.cloudflare().rollApiTokenValue({
    ...tokenOf(run, old),
    tokenId: old.tokenId,
    ref: uuid4(),
    modifiedOn: old.modifiedOn,
    stage,
  });

/**
 * A failed round compensates: the stores are given the value they held back, when it is known —
 * for token-warden's own token always (resolve recorded the value it runs on), so it is never left
 * with a deleted one.
 */
function restoreOnFailure(run: RotationRun, old: ResolvedApiToken): PropagationPolicy {
  return {
    until: 'rounds',
    beforeFirstRound() {
      const previous = old.self?.currentRef ?? run.plan.currentRef;
      if (!previous) return;
      run.saga.push({
        name: 'restore stores',
        run: () => allSettled(run.plan.targets.map((t) => run.restore(t, previous))),
        restoresStores: true,
      });
    },
  };
}

/**
 * successor: a new token with the old one's policies, condition and a fresh expiry beside the old
 * one; retire deletes the old token once every store holds the new one and it has been verified.
 * Until then a failure deletes the new token (and gives the stores their value back).
 */
export const successor: ApiTokenStrategy = {
  name: 'successor',
  async issue(run, old) {
    const { plan, saga } = run;
    const startedAt = workflowInfo().startTime.getTime();
    const issued = await run.step(
      'issue',
      () =>
        run.cloudflare().createSuccessorApiToken({
          ...tokenOf(run, old),
          oldTokenId: old.tokenId,
          ref: uuid4(),
          name: plan.successorName ?? old.name,
          notBefore: iso(startedAt - 60_000),
          expiresOn: iso(Date.now() + msToNumber(plan.duration as Parameters<typeof msToNumber>[0])),
        }),
      (r) => ({
        strategy: 'successor',
        tokenId: r.tokenId,
        fingerprint: r.fingerprint,
        orphansDeleted: r.orphansDeleted,
      }),
    );
    saga.push({
      name: 'delete new token',
      run: () => run.cloudflare().deleteApiToken({ ...tokenOf(run, old), tokenId: issued.tokenId }),
      revokesNew: true,
    });
    saga.push({ name: 'discard pending secret', run: () => run.records.discardSecret({ ref: issued.ref }) });
    return issued;
  },
  onPropagationFailure: restoreOnFailure,
  async retire(run, old) {
    await run.step(
      'retire',
      () => run.retire().deleteApiToken({ ...tokenOf(run, old), tokenId: old.tokenId }),
      () => ({ deletedTokenId: old.tokenId }),
    );
  },
};

/**
 * roll: a new value for the same token (`PUT …/value`); the old value dies at once, so consumers
 * see a cut-over until the stores hold the new one. Nothing is left to retire.
 */
export const roll: ApiTokenStrategy = {
  name: 'roll',
  async issue(run, old) {
    const issued = await run.step(
      'issue',
      () => rollValue(run, old, true),
      (r) => ({ strategy: 'roll', tokenId: r?.tokenId ?? null, fingerprint: r?.fingerprint ?? null }),
    );
    if (!issued) throw new Error('a staged roll came back without its value');
    return issued;
  },
  /** The old value is dead: restoring it would help nobody, so a failure leaves the run to an operator. */
  onPropagationFailure: () => ({ until: 'rounds' }),
  async retire(run, old) {
    await run.step(
      'retire',
      () => Promise.resolve(old.tokenId),
      (tokenId) => ({ rolledTokenId: tokenId, oldValue: 'died when it was rolled' }),
    );
  },
};

/** The credential kind a Cloudflare API token is: how it is resolved, killed in an emergency, and issued. */
export const apiTokens = {
  resolve(run: RotationRun): Promise<ResolvedApiToken> {
    return run.step(
      'resolve',
      () => run.cloudflare().resolveApiToken({ ...run.token, credential: 'api-token' }),
      (t) => ({ tokenId: t.tokenId, kind: t.kind, expiresOn: t.expiresOn, modifiedOn: t.modifiedOn }),
    );
  },

  /** An emergency: the compromised value dies at once (a roll whose value nobody keeps); a successor follows. */
  async kill(run: RotationRun, old: ResolvedApiToken): Promise<void> {
    run.killedOldFirst = true;
    run.switchStrategy('successor');
    await run.step(
      'kill',
      () => rollValue(run, old, false),
      () => ({ killedTokenId: old.tokenId }),
    );
  },

  /**
   * 2. issue. A roll whose answer was lost killed the old value and nobody has the new one: the
   * run issues a successor instead and tells an operator (consumers were cut off meanwhile).
   */
  async issue(run: RotationRun, old: ResolvedApiToken): Promise<IssuedApiToken> {
    try {
      return await apiTokens.strategy(run).issue(run, old);
    } catch (error) {
      if (run.strategy !== 'roll' || !isFailure(error, 'RolledValueLost')) throw error;
      run.recoveredLostSecret = true;
      run.switchStrategy('successor');
      await run.recorder.alert(
        'critical',
        'rolled-value-lost',
        'Cloudflare rolled the token but its new value never arrived: the old value is dead; a successor token is issued and propagated',
      );
      return successor.issue(run, old);
    }
  },

  strategy(run: RotationRun): ApiTokenStrategy {
    return run.strategy === 'roll' ? roll : successor;
  },
};
