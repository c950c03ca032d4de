import { CancellationScope, condition, log, patched } from '@temporalio/workflow';
import type { IssuedSecret } from '../../activities/service-tokens';
import { failureSummary } from '../failures';
import type { RotationRun } from './run';
import { iso } from './support';

/** Patch: a replace's wait retires on evidence (the new token's `last_seen_at`), the timer its bound. */
export const RETIRE_ON_EVIDENCE = 'replace-retire-on-evidence';
/**
 * Patch: the wait's reads double their interval, the first once consumers have had a quarter of
 * the wait (at most 30 s), so a replace spends a read or two, not one every 30 s of its wait.
 * Not implied by the baseline (patches.ts): runs started since the baseline polled evenly.
 */
const DOUBLING_READS = 'replace-evidence-doubling-reads';
/** The interval of the even polls (every 30 s, or four within a shorter wait), and the first doubling gap. */
const LONGEST_POLL_MS = 30_000;
const SHORTEST_POLL_MS = 1_000;

/**
 * When the wait reads the new token. Doubling (runs since `replace-evidence-doubling-reads`): no
 * read before consumers had time to switch, then gaps of g, 2g, 4g… so retire comes at most about
 * twice as late as the first use it waited for, and a 1-hour wait reads 6 times rather than 120.
 * Even: a read at once, then one every g (runs recorded before).
 */
function readSchedule(propagationWaitMs: number, doubling: boolean) {
  let gapMs = Math.max(SHORTEST_POLL_MS, Math.min(LONGEST_POLL_MS, propagationWaitMs / 4));
  return {
    doubling,
    firstReadAfterMs: doubling ? gapMs : 0,
    nextGapMs: () => (doubling ? (gapMs *= 2) : gapMs),
  };
}

/** What the wait saw, as its step records it. */
export interface WaitEvidence {
  waitedMs: number;
  cutShortBy: string | null;
  /** `seen`: a consumer used the new token after propagation; otherwise why the timer decided. */
  evidence?: 'seen' | 'not-seen' | 'unreported' | 'unreadable';
  propagatedAt?: string;
  lastSeenAt?: string | null;
  note?: string;
}

/**
 * 5. wait — consumers pick up the new credential; an emergency revoke cuts it short. Not async:
 * it hands back the step's own promise, so the runs recorded before `replace-retire-on-evidence`
 * take the promise turns they took (strategies/strategy.ts).
 *
 * A `replace` since that patch waits for evidence rather than only a timer: the old token is
 * deleted at retire, and a consumer that has not switched yet would be cut off. So the wait reads
 * the new token (one GET per read, on the scheduled lane, at `readSchedule`'s times) until
 * Cloudflare's `last_seen_at` is later than the end of propagation (`propagatedAt`, after verify,
 * whose probe uses the token too), and retires then; the configured wait stays its bound. No
 * `last_seen_at` in Cloudflare's answer, or no answer at all: the timer decides, and the step
 * says so.
 */
export function waitBeforeRetire(run: RotationRun, fresh: IssuedSecret, propagatedAt: number): Promise<unknown> {
  if (run.strategy === 'replace' && run.since(RETIRE_ON_EVIDENCE)) {
    // The step rows so far are written while the run waits (runs with batched bookkeeping).
    run.recorder.writeHeld();
    return run.step(
      'wait',
      () => waitForEvidence(run, fresh, propagatedAt),
      (saw) => ({ ...saw }),
    );
  }
  return waitForConsumers(run);
}

/**
 * The plain timer: every rotate-secret, API-token rotations, and the replaces recorded before
 * `replace-retire-on-evidence`. Not async: the workflow awaits the step's own promise (replay,
 * strategies/strategy.ts).
 */
export function waitForConsumers(run: RotationRun): Promise<boolean> {
  run.recorder.writeHeld();
  const { propagationWaitMs } = run.plan;
  return run.step(
    'wait',
    () => condition(() => run.revoked() !== undefined, propagationWaitMs),
    (wasRevoked) => ({ waitedMs: propagationWaitMs, cutShortBy: wasRevoked ? (run.revoked()?.actor ?? null) : null }),
  );
}

type LastSeen = { reported: boolean; lastSeenAt: string | null };
type Read = { seen: LastSeen } | { error: unknown } | { abandoned: true };

/**
 * One read of the new token, given at most `ms`: a read still going when the wait runs out (a
 * worker lost under it, the scheduled lane held back by the budget) is cancelled, so evidence
 * never holds retire past the configured wait.
 */
async function readWithin(run: RotationRun, tokenId: string, ms: number): Promise<Read> {
  let settled: Read | undefined;
  const scope = new CancellationScope();
  const read = scope
    .run(() => run.evidence.readServiceTokenLastSeen({ ...run.token, tokenId }))
    .then(
      (seen) => void (settled = { seen }),
      (error: unknown) => void (settled ??= { error }),
    );
  await condition(() => settled !== undefined || run.revoked() !== undefined, Math.max(1, ms));
  if (settled) return settled;
  scope.cancel();
  await read;
  return { abandoned: true };
}

async function waitForEvidence(run: RotationRun, fresh: IssuedSecret, propagatedAt: number): Promise<WaitEvidence> {
  const startedAt = Date.now();
  const deadline = startedAt + run.plan.propagationWaitMs;
  const schedule = readSchedule(run.plan.propagationWaitMs, patched(DOUBLING_READS));
  const revoked = () => run.revoked() !== undefined;
  const ended = (saw: Omit<WaitEvidence, 'waitedMs' | 'cutShortBy' | 'propagatedAt'>): WaitEvidence => ({
    waitedMs: Date.now() - startedAt,
    cutShortBy: run.revoked()?.actor ?? null,
    propagatedAt: iso(propagatedAt),
    ...saw,
  });
  /** The timer decides what is left of the wait. */
  const onTheTimer = async (saw: Parameters<typeof ended>[0]) => {
    await condition(revoked, Math.max(0, deadline - Date.now()));
    return ended(saw);
  };

  const notSeen = { evidence: 'not-seen', note: 'not seen within the wait; retiring on the timer' } as const;
  let lastSeenAt: string | null = null;
  let answered = false;
  if (schedule.firstReadAfterMs > 0)
    await condition(revoked, Math.min(schedule.firstReadAfterMs, run.plan.propagationWaitMs));
  for (;;) {
    if (revoked()) return ended({ note: 'cut short by an emergency revoke' });
    const left = deadline - Date.now();
    // No read starts once the wait is over: the configured wait bounds evidence.
    if (answered && left <= 0) return ended({ ...notSeen, lastSeenAt });
    if (schedule.doubling && left <= 0)
      return ended({
        evidence: 'not-seen',
        lastSeenAt,
        note: 'the wait ended before its first read; retired on the timer',
      });
    const read = await readWithin(run, fresh.tokenId, left);
    if (revoked()) return ended({ note: 'cut short by an emergency revoke' });
    if ('abandoned' in read)
      return ended(
        answered
          ? { ...notSeen, lastSeenAt }
          : {
              evidence: 'not-seen',
              lastSeenAt,
              note: "the new token's last_seen_at could not be read within the wait; retiring on the timer",
            },
      );
    if ('error' in read) {
      log.warn('could not read the new token for evidence; retiring on the timer', {
        token: run.token.tokenName,
        error: failureSummary(read.error),
      });
      return onTheTimer({
        evidence: 'unreadable',
        note: "could not read the new token's last_seen_at; retired on the timer",
      });
    }
    const { seen } = read;
    if (!seen.reported)
      return onTheTimer({ evidence: 'unreported', note: 'Cloudflare reports no last_seen_at; retired on the timer' });
    answered = true;
    lastSeenAt = seen.lastSeenAt;
    if (lastSeenAt !== null && Date.parse(lastSeenAt) > propagatedAt)
      return ended({
        evidence: 'seen',
        lastSeenAt,
        note: `new token seen by a consumer at ${lastSeenAt}`,
      });
    const remaining = deadline - Date.now();
    if (remaining <= 0) return ended({ ...notSeen, lastSeenAt });
    await condition(revoked, Math.min(schedule.nextGapMs(), remaining));
  }
}
