import { busiestWindow, countIn, meanAndMax, span } from './windows';

describe('bench window figures', () => {
  it('finds the busiest sliding window, which can straddle two fixed windows', () => {
    // Fixed windows of 10 opened at 0 would see 3 and 3; the sliding window from 7 sees 6.
    const times = [0, 7, 8, 9, 10, 11, 12, 30];
    expect(busiestWindow(times, 10)).toEqual({ from: 7, count: 6 });
  });

  it('counts an event at the window end in the next window only', () => {
    expect(busiestWindow([0, 10, 20], 10)).toEqual({ from: 0, count: 1 });
    expect(countIn([0, 10, 20], 0, 10)).toBe(1);
    expect(countIn([0, 10, 20], 5, 10)).toBe(1);
  });

  it('does not depend on the order events arrive in', () => {
    expect(busiestWindow([12, 0, 9, 11, 7, 30, 8, 10], 10)).toEqual({ from: 7, count: 6 });
  });

  it('has no busiest window without events', () => {
    expect(busiestWindow([], 10)).toBeNull();
    expect(span([])).toBe(0);
    expect(meanAndMax([])).toEqual({ mean: 0, max: 0 });
  });

  it('gives the span, mean and largest value', () => {
    expect(span([5, 1, 9])).toBe(8);
    expect(meanAndMax([1, 2, 6])).toEqual({ mean: 3, max: 6 });
  });
});
