import { condition, log, sleep } from '@temporalio/workflow';
import type { PlannedTarget } from '../../activities/rotation-records';
import type { ReadBack, WriteReceipt } from '../../stores/store-types';
import type { RotationRecorder } from './recorder';
import { failureSummary } from '../failures';
import { allSettled, iso } from './support';

/** How long the previous secret is kept alive when propagation fails or a secret was lost. */
export const RECOVERY_WINDOW_MS = 24 * 60 * 60 * 1000;
/** The previous secret is extended again once less than this is left of it. */
export const EXTEND_WHEN_LEFT_MS = RECOVERY_WINDOW_MS / 2;
/** Pauses between rounds of a propagation that keeps failing: they double up to this. */
export const LONGEST_PAUSE_MS = 60 * 60 * 1000;
const SHORTEST_PAUSE_MS = 100;

/** The previous secret's fuse is short: it must be extended before the run pauses again. */
export function fuseIsShort(previousValidUntil: number, now: number): boolean {
  return previousValidUntil - now < EXTEND_WHEN_LEFT_MS;
}

/**
 * How long to pause before the next round: the backoff, but never past the moment the fuse
 * gets short, so the run is awake to extend it while half a recovery window is still left.
 */
export function pauseBeforeNextRound(backoffMs: number, previousValidUntil: number, now: number): number {
  return Math.max(SHORTEST_PAUSE_MS, Math.min(backoffMs, previousValidUntil - EXTEND_WHEN_LEFT_MS - now));
}

/** What a propagation round does to one store, and who records it. */
export interface PropagationIo {
  recorder: RotationRecorder;
  targets: PlannedTarget[];
  hasProbe: boolean;
  write(target: PlannedTarget, round: number): Promise<WriteReceipt>;
  readBack(target: PlannedTarget, receipt: WriteReceipt): Promise<ReadBack>;
  /** The Access-protected app accepts the new credential. */
  probe(): Promise<{ status: number }>;
}

/**
 * One round: every store is written (each write finished or failed for good before the run moves
 * on), then every store reads back the new fingerprint while the probe app is asked. Throws the
 * first failure. What runs recorded before `rotate-secret-propagates-until-held` did per round.
 */
export async function propagateRound(io: PropagationIo, round: number): Promise<void> {
  const { recorder, targets } = io;
  const receipts = await recorder.step(
    'propagate',
    () => allSettled(targets.map((t) => io.write(t, round))),
    (r) => ({ round, stores: r.map((x) => ({ store: x.store, fingerprint: x.fingerprint, changed: x.changed })) }),
  );
  await recorder.step(
    'verify',
    async () => {
      const [stores, probed] = await Promise.all([
        Promise.all(targets.map((t, i) => io.readBack(t, receipts[i]!))),
        io.hasProbe ? io.probe() : Promise.resolve(null),
      ]);
      return { stores, probed };
    },
    (r) => ({ stores: r.stores, probeStatus: r.probed?.status ?? null }),
  );
}

/**
 * Runs recorded before `rotate-secret-propagates-until-held`: up to `rounds` rounds, the previous
 * secret extended and a warning sent between them, then the last failure is thrown (and the run
 * compensates). Kept as it was so those runs replay.
 */
export async function propagateInRounds(
  io: PropagationIo,
  options: {
    rounds: number;
    /** Called before each round (the replace strategy pushes its "restore stores" compensation in round 1). */
    beforeRound(round: number): void;
    /** Whether a failed round is followed by another: only rotate-secret without a revoke. */
    retries(): boolean;
    extendPrevious(): Promise<void>;
    alertFailing(round: number, error: unknown): Promise<void>;
    pauseMs: number;
    tokenName: string;
  },
): Promise<void> {
  for (let round = 1; ; round++) {
    try {
      options.beforeRound(round);
      await propagateRound(io, round);
      return;
    } catch (error) {
      if (!options.retries() || round >= options.rounds) throw error;
      await io.recorder.step(
        'extend previous secret',
        () => options.extendPrevious(),
        () => ({
          until: iso(Date.now() + RECOVERY_WINDOW_MS),
          alert: 'propagation failing; previous secret kept valid',
        }),
      );
      log.warn('propagation failed; previous secret extended, retrying', { token: options.tokenName, round });
      await options.alertFailing(round, error);
      await sleep(options.pauseMs);
    }
  }
}

/** Where a rotate-secret propagation stands: what an operator's cancel has to report. */
export interface HoldState {
  /** Stores that do not read back the new secret yet: all of them until a round has run. */
  missing: PlannedTarget[];
  /** The probe app accepted the new credential (or there is none). */
  probed: boolean;
  /** When the previous secret expires, as last set in Cloudflare. */
  previousValidUntil: number;
}

export interface UntilHeldOptions {
  tokenName: string;
  revoked(): boolean;
  /** Moves the previous secret's expiry to `until`. */
  extendPrevious(until: number): Promise<unknown>;
  /** The first pause after a failed round; pauses double from there. */
  firstPauseMs: number;
}

/**
 * rotate-secret after Cloudflare issued the new secret: there is no way back (the new secret is
 * Cloudflare's current one), so the run keeps going until every store reads it back.
 *
 * A failed round alerts `critical` at once; the previous secret is extended to a recovery window
 * whenever less than half of one is left (so consumers of a store that still holds it keep
 * working, however long this takes), and only the stores that miss the new secret are written
 * again, after a pause that doubles up to an hour. It ends when every store reads back the new
 * secret and the probe app accepts it. An emergency revoke ends it at once with the round's
 * failure (the compromised credential is then ended by the caller); an operator's cancel
 * surfaces as the workflow's cancellation, with `state` saying what was left.
 */
export async function propagateUntilHeld(
  io: PropagationIo,
  state: HoldState,
  options: UntilHeldOptions,
): Promise<void> {
  const { recorder } = io;
  let pause = Math.max(SHORTEST_PAUSE_MS, options.firstPauseMs);
  let alerted = false;
  for (let round = 1; ; round++) {
    const failure = await holdRound(io, state, round);
    if (failure === undefined) {
      if (alerted)
        await recorder.alert(
          'info',
          'propagation-recovered',
          `every store now holds the new secret after ${round} propagation rounds; the previous secret is retired next`,
        );
      return;
    }
    if (options.revoked()) throw failure.error;
    if (!alerted) {
      alerted = true;
      await recorder.alert(
        'critical',
        'propagation-failing',
        `propagation of the new secret failed (${String(failureSummary(failure.error).message)}): ${state.missing.map((t) => t.label).join(', ') || 'the probe app'} ${state.missing.length ? 'do not hold it' : 'does not accept it'}. Cloudflare's current secret is the new one; the previous one is kept valid and propagation is retried until every store holds the new one (cancel the run to stop: both stay valid)`,
      );
    }
    log.warn('propagation incomplete; retrying the stores that miss the new secret', {
      token: options.tokenName,
      round,
      missing: state.missing.map((t) => t.label),
    });
    if (fuseIsShort(state.previousValidUntil, Date.now())) {
      const until = Date.now() + RECOVERY_WINDOW_MS;
      try {
        await recorder.step(
          'extend previous secret',
          () => options.extendPrevious(until),
          () => ({ until: iso(until), alert: 'propagation failing; previous secret kept valid' }),
        );
        state.previousValidUntil = until;
      } catch (error) {
        // Tried again before the next round; the pause below is short while it keeps failing.
        log.error('extending the previous secret failed', { token: options.tokenName, error: failureSummary(error) });
      }
    }
    recorder.progress.phase = 'propagate (retrying)';
    recorder.writeHeld();
    if (await condition(() => options.revoked(), pauseBeforeNextRound(pause, state.previousValidUntil, Date.now())))
      throw failure.error;
    pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
  }
}

/**
 * Writes and reads back the stores that miss the new secret, and asks the probe app until it
 * has accepted it once. Returns the round's first failure, or nothing when all is held.
 */
async function holdRound(io: PropagationIo, state: HoldState, round: number): Promise<{ error: unknown } | undefined> {
  const { recorder } = io;
  const targets = state.missing;
  let first: { error: unknown } | undefined;
  const note = (error: unknown) => (first ??= { error });

  const written: Array<{ target: PlannedTarget; receipt: WriteReceipt }> = [];
  if (targets.length) {
    recorder.progress.phase = 'propagate';
    const startedAt = iso(Date.now());
    const seq = recorder.nextSeq();
    const writes = await Promise.allSettled(targets.map((t) => io.write(t, round)));
    const failed: Array<Record<string, unknown>> = [];
    writes.forEach((result, i) => {
      const target = targets[i]!;
      if (result.status === 'fulfilled') written.push({ target, receipt: result.value });
      else {
        note(result.reason);
        failed.push({ store: target.label, ...failureSummary(result.reason) });
      }
    });
    await recorder.recordStep(seq, 'propagate', failed.length ? 'failed' : 'ok', startedAt, {
      round,
      stores: written.map(({ receipt }) => ({
        store: receipt.store,
        fingerprint: receipt.fingerprint,
        changed: receipt.changed,
      })),
      ...(failed.length ? { ...failureSummary(first?.error), failed } : {}),
    });
    if (!written.length) return first;
  }

  recorder.progress.phase = 'verify';
  const verifyStarted = iso(Date.now());
  const verifySeq = recorder.nextSeq();
  const [reads, probed] = await Promise.all([
    Promise.allSettled(written.map(({ target, receipt }) => io.readBack(target, receipt))),
    io.hasProbe && !state.probed
      ? io.probe().then(
          (r) => ({ ok: true as const, status: r.status }),
          (error: unknown) => ({ ok: false as const, error }),
        )
      : Promise.resolve(null),
  ]);
  const confirmed = new Set<number>();
  const stores: ReadBack[] = [];
  let unconfirmed: { error: unknown } | undefined;
  const doubt = (error: unknown) => {
    unconfirmed ??= { error };
    note(error);
  };
  reads.forEach((result, i) => {
    if (result.status === 'fulfilled') {
      confirmed.add(written[i]!.target.index);
      stores.push(result.value);
    } else doubt(result.reason);
  });
  if (probed?.ok === false) doubt(probed.error);
  if (probed?.ok) state.probed = true;
  state.missing = targets.filter((t) => !confirmed.has(t.index));
  const held = !first && state.probed;
  // The step says whether what was written reads back (and the probe agrees); the round's
  // other failures are the propagate step's.
  await recorder.recordStep(verifySeq, 'verify', unconfirmed ? 'failed' : 'ok', verifyStarted, {
    round,
    stores,
    probeStatus: probed?.ok ? probed.status : null,
    ...(unconfirmed ? failureSummary(unconfirmed.error) : {}),
    ...(state.missing.length ? { missing: state.missing.map((t) => t.label) } : {}),
  });
  return held ? undefined : first;
}
