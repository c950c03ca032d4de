/** A stretch of time and how many events fell in it. */
export interface Window {
  /** Start of the window (ms); the window is [from, from + lengthMs). */
  from: number;
  count: number;
}

/**
 * The busiest window of `lengthMs` anywhere in `times`: a sliding window, so it is at least as
 * busy as any fixed window Cloudflare's limiter could open (it opens one at a token's first
 * request and counts until it ends). Null when there are no events.
 */
export function busiestWindow(times: readonly number[], lengthMs: number): Window | null {
  if (!times.length) return null;
  const sorted = [...times].sort((a, b) => a - b);
  let best: Window = { from: sorted[0]!, count: 0 };
  let end = 0;
  for (let start = 0; start < sorted.length; start++) {
    const from = sorted[start]!;
    while (end < sorted.length && sorted[end]! < from + lengthMs) end++;
    if (end - start > best.count) best = { from, count: end - start };
  }
  return best;
}

/** Events in [from, from + lengthMs). */
export function countIn(times: readonly number[], from: number, lengthMs: number): number {
  let count = 0;
  for (const t of times) if (t >= from && t < from + lengthMs) count++;
  return count;
}

/** How long the events kept coming: first to last, in ms (0 for fewer than two). */
export function span(times: readonly number[]): number {
  if (times.length < 2) return 0;
  let min = Infinity;
  let max = -Infinity;
  for (const t of times) {
    if (t < min) min = t;
    if (t > max) max = t;
  }
  return max - min;
}

/** Mean and largest of a list (0 and 0 when empty). */
export function meanAndMax(values: readonly number[]): { mean: number; max: number } {
  if (!values.length) return { mean: 0, max: 0 };
  let sum = 0;
  let max = -Infinity;
  for (const v of values) {
    sum += v;
    if (v > max) max = v;
  }
  return { mean: sum / values.length, max };
}
