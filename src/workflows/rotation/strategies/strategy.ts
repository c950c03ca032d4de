import type { IssuedSecret, ResolvedServiceToken } from '../../../activities/service-tokens';
import type { RotationRun, StrategyName } from '../run';

/** What a failed propagation round leads to. */
export type PropagationPolicy =
  /** No way back: keep propagating until every store holds the new credential (propagation.ts). */
  | { until: 'held'; extendPrevious(until: number): Promise<unknown> }
  /** Up to three rounds, then the run compensates. */
  | {
      until: 'rounds';
      /** Pushes what undoing the propagation takes, before the first round writes anything. */
      beforeFirstRound?(): void;
      /** Another round after a failed one, the previous credential extended meanwhile. */
      retry?: { while(): boolean; extendPrevious(): Promise<void> };
    };

export interface IssueFallback<Old, New> {
  first: Promise<unknown> | null;
  issueWith: RotationStrategy<Old, New>;
}

/**
 * Replay safety: every history a run recorded must replay on this code, and the order in which
 * this run's work and its recorder (beside it) send commands within one workflow task depends
 * on how many promise turns the work takes. So a strategy hands back the step's own promise
 * where the code once awaited it inline, and does what follows a step as that promise's first
 * reaction (`afterStep`), not in an extra async frame.
 *
 * One way of giving a credential a successor (DESIGN §4): the workflow runs the steps, a strategy
 * says what issue, a failed propagation and retire mean for it. Its issue pushes on the run's saga
 * what undoing it takes. A credential kind (service-token.ts) picks one per run; the next kind
 * (API tokens) brings its own strategies rather than another copy of the workflow.
 */
export interface RotationStrategy<Old = ResolvedServiceToken, New = IssuedSecret> {
  readonly name: StrategyName;
  /** 2. issue — the new credential, staged in the pending-secret store. */
  issue(run: RotationRun, old: Old): Promise<New>;
  /**
   * Issue failed: whether the run can go on, and how — work to await first, then who issues
   * instead. Undefined: the failure is the run's.
   */
  recoverIssue?(run: RotationRun, old: Old, error: unknown): IssueFallback<Old, New> | undefined;
  onPropagationFailure(run: RotationRun, old: Old): PropagationPolicy;
  /** 6. retire — the point of no return: the old credential ends. */
  retire(run: RotationRun, old: Old): Promise<void>;
}

/**
 * Runs `then` as the first reaction to `step`'s success and hands back `step` itself: the caller
 * that awaits it resumes right after, in the same promise turn, as when `then` was inline.
 */
export function afterStep<T>(step: Promise<T>, then: (result: T) => void): Promise<T> {
  step.then(then, () => undefined);
  return step;
}
