import { patched } from '@temporalio/workflow';

/*
 * Patches (see README, "Deploying a workflow change"); runs recorded before replay the old path.
 * - history beside the work: bookkeeping runs beside the work (recorder.ts), the revoke signal
 *   is audited on arrival, and a revoke that reaches a run still waiting for its plan kills first;
 * - fewer round trips: rows are written in batches (row-batches.ts), resolve goes beside the plan;
 * - rows ride along: no batch of rows on the critical path (row-batches.ts);
 * - read back in the write: a store this side of the network reads back in its write's activity;
 * - retire and finish: rotate-secret's last two steps in one activity (retire-and-finish.ts);
 * - plan and resolve: one activity answers both (service-token.ts);
 * - baseline: every patch a rotation checks, at once (below).
 */
const HISTORY_BESIDE_THE_WORK = 'rotation-history-beside-the-work';
const FEWER_ROUND_TRIPS = 'rotation-fewer-round-trips';
const ROWS_RIDE_ALONG = 'rotation-rows-ride-along';
const READ_BACK_IN_WRITE = 'rotation-read-back-in-write';
const RETIRE_AND_FINISH = 'rotation-retire-and-finish';
const PLAN_AND_RESOLVE = 'rotation-plan-and-resolve';
/**
 * Each patch a run meets costs its first workflow task a marker and a `TemporalChangeVersion`
 * upsert: a run started since this one takes every patch of the rotation workflows (these,
 * the lanes', and the strategies' and emergency's) with one of each.
 */
const BASELINE = 'rotation-baseline-2026-12';

export interface RotationPatches {
  /** Started since the baseline: every patch below, and those `since` is asked about, hold. */
  baseline: boolean;
  besideTheWork: boolean;
  /** Bookkeeping in batches, resolve beside the plan. */
  fewerRoundTrips: boolean;
  /** The last rows are written by the promote. */
  rowsRideAlong: boolean;
  readBackInWrite: boolean;
  retireWithFinish: boolean;
  planWithResolve: boolean;
}

/** The patches a run takes, read once when it starts (or replays). */
export function rotationPatches(): RotationPatches {
  const baseline = patched(BASELINE);
  // A run recorded before the baseline asks each patch in turn, as it did.
  const besideTheWork = baseline || patched(HISTORY_BESIDE_THE_WORK);
  const fewerRoundTrips = baseline || (besideTheWork && patched(FEWER_ROUND_TRIPS));
  const rowsRideAlong = baseline || (fewerRoundTrips && patched(ROWS_RIDE_ALONG));
  const readBackInWrite = baseline || (rowsRideAlong && patched(READ_BACK_IN_WRITE));
  const retireWithFinish = baseline || (readBackInWrite && patched(RETIRE_AND_FINISH));
  const planWithResolve = baseline || (retireWithFinish && patched(PLAN_AND_RESOLVE));
  return {
    baseline,
    besideTheWork,
    fewerRoundTrips,
    rowsRideAlong,
    readBackInWrite,
    retireWithFinish,
    planWithResolve,
  };
}
