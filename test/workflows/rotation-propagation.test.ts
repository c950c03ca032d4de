import {
  EXTEND_WHEN_LEFT_MS,
  fuseIsShort,
  LONGEST_PAUSE_MS,
  pauseBeforeNextRound,
  RECOVERY_WINDOW_MS,
} from '../../src/workflows/rotation/propagation';

const MINUTE = 60_000;

/**
 * The previous secret's fuse while rotate-secret keeps propagating (rotation-propagation.ts):
 * however long the stores keep refusing, the run is awake and extends the previous secret
 * while half a recovery window is left, so it never expires under a store that still holds it.
 */
describe('keeping the previous secret alive while propagation keeps failing', () => {
  it('extends before every fuse runs out, over a week of failing rounds that each take up to ten minutes', () => {
    let now = 0;
    let validUntil = now + 10 * MINUTE + 30_000; // at issue: a whole propagation round plus the 30 s wait, at least
    let backoff = 15 * MINUTE;
    let extensions = 0;
    let leastLeft = Infinity;
    while (now < 7 * 24 * 60 * MINUTE) {
      now += 10 * MINUTE; // one failing round, at its slowest
      expect(validUntil).toBeGreaterThan(now);
      if (fuseIsShort(validUntil, now)) {
        validUntil = now + RECOVERY_WINDOW_MS;
        extensions += 1;
      }
      const pause = pauseBeforeNextRound(backoff, validUntil, now);
      now += pause;
      leastLeft = Math.min(leastLeft, validUntil - now);
      backoff = Math.min(backoff * 2, LONGEST_PAUSE_MS);
    }
    // Never less than half a window left when the run wakes: each pause stops short of it.
    expect(leastLeft).toBeGreaterThanOrEqual(EXTEND_WHEN_LEFT_MS - 100);
    // Roughly one extension per half window, not one per round.
    expect(extensions).toBeGreaterThanOrEqual(13);
    expect(extensions).toBeLessThanOrEqual(16);
  });

  it('extends at the first failure when the overlap given at issue is short, and not while plenty is left', () => {
    expect(fuseIsShort(10 * MINUTE, 0)).toBe(true);
    expect(fuseIsShort(RECOVERY_WINDOW_MS, 0)).toBe(false);
    expect(pauseBeforeNextRound(LONGEST_PAUSE_MS, EXTEND_WHEN_LEFT_MS + 5 * MINUTE, 0)).toBe(5 * MINUTE);
  });
});
