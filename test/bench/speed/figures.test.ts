import { passed } from '../figures';
import { benchChecks, formatBenchReport, type BenchReport } from '../report';
import { floorRatioCheck, perSecond, ratio, throughputCheck, tailCheck, timerMs, type LoadRound } from './figures';
import { speedChecks, type SpeedSection } from './report';

/** A load round of `ok` answers in one second, each taking `latency` ms. */
const round = (ok: number, latency: number, failed = 0): LoadRound => ({
  ok,
  failed,
  ms: 1000,
  latencies: Array.from({ length: ok }, () => latency),
});

describe('timerMs', () => {
  it('sums TimerStarted → TimerFired per timer and ignores a timer that never fired', () => {
    expect(
      timerMs([
        { kind: 'started', timerId: '1', at: 100 },
        { kind: 'fired', timerId: '1', at: 130 },
        { kind: 'started', timerId: '2', at: 200 },
        { kind: 'started', timerId: '3', at: 210 },
        { kind: 'fired', timerId: '3', at: 215 },
      ]),
    ).toBe(35);
  });

  it('is 0 for a run without timers', () => {
    expect(timerMs([])).toBe(0);
  });
});

describe('ratio', () => {
  it('divides, and is null when a side is missing or the floor never came', () => {
    expect(ratio(300, 200)).toBe(1.5);
    expect(ratio(null, 200)).toBeNull();
    expect(ratio(300, Infinity)).toBeNull();
    expect(ratio(Infinity, 200)).toBe(Infinity);
  });
});

describe('floorRatioCheck', () => {
  it('is met when both the median and the p90 are within the bound', () => {
    const check = floorRatioCheck('P3', [300, 290, 280], [200, 200, 200], 1.5);
    expect(check.met).toBe(true);
    expect(check.p50Ratio).toBeCloseTo(1.45);
    expect(check.p90Ratio).toBe(1.5);
  });

  it('is missed when the p90 alone is over the bound', () => {
    const check = floorRatioCheck('P4', [200, 200, 200, 200, 200, 200, 200, 200, 900, 900], Array(10).fill(200), 1.5);
    expect(check.p50Ratio).toBe(1);
    expect(check.met).toBe(false);
  });

  it('counts a sample that never came as slower than any, and is missed without samples', () => {
    expect(floorRatioCheck('P4', [null], [200], 1.5).met).toBe(false);
    expect(floorRatioCheck('P3', [], [], 1.5).met).toBe(false);
  });

  it('shows the measured rotation 9.4 × its floor as missed', () => {
    const check = floorRatioCheck('P3', [1896], [202], 1.5);
    expect(check.met).toBe(false);
    expect(check.detail).toContain('9.39 ×');
  });
});

describe('throughputCheck', () => {
  it('compares the medians of the rounds against the bound share', () => {
    expect(perSecond(round(500, 2))).toBe(500);
    const met = throughputCheck('P5', [round(600, 1), round(500, 1), round(100, 1)], [round(1000, 1)], 0.5);
    expect(met.share).toBe(0.5);
    expect(met.met).toBe(true);
    const missed = throughputCheck('P5', [round(400, 1)], [round(1000, 1)], 0.5);
    expect(missed.met).toBe(false);
  });

  it('is missed when any answer was not a 2xx, however fast the rest', () => {
    expect(throughputCheck('P5', [round(900, 1, 1)], [round(1000, 1)], 0.5).met).toBe(false);
  });
});

describe('tailCheck', () => {
  it('compares the p99 of every answer against the bare route p99', () => {
    const check = tailCheck('P5', [round(99, 5), round(1, 100)], [round(100, 2)], 10);
    // 100 answers: the 99th is the last 5 ms one.
    expect(check.p99).toBe(5);
    expect(check.ratio).toBe(2.5);
    expect(check.met).toBe(true);
    expect(tailCheck('P5', [round(100, 30)], [round(100, 2)], 10).met).toBe(false);
  });
});

describe('the speed section in the bench report', () => {
  const speed: SpeedSection = {
    rotations: {
      samples: [{ token: 'bench-0', ms: 250, totalMs: 251, timerMs: 1 }],
      floors: [200],
    },
    revokes: { revokes: [150], floors: [100], notes: [] },
    api: {
      bare: [round(1000, 1)],
      bareBesideHistory: [round(1000, 1)],
      routes: {
        '/health': [round(800, 1)],
        '/tokens/status': [round(600, 2)],
        '/tokens/history': [round(300, 5)],
        '/rotations': [round(300, 20)],
      },
      historyRows: 1_000_000,
      seedMs: 30_000,
      concurrency: 16,
      roundMs: 1000,
    },
  };

  it('judges P3–P5 in order: /rotations misses, the rest are met', () => {
    const checks = speedChecks(speed);
    expect(checks.map((c) => [c.label.split(' ').slice(0, 2).join(' '), c.met])).toEqual([
      ['P3 rotate-secret', true],
      ['P4 idle', true],
      ['P5 /health', true],
      ['P5 /tokens/status', true],
      ['P5 /tokens/history', true],
      ['P5 /rotations', false],
    ]);
  });

  it('makes the whole bench fail when a speed goal is missed, and prints its lines and verdicts', () => {
    const report: BenchReport = {
      cores: 2,
      loadBefore: [1, 1, 1],
      durationMs: 60_000,
      budgetPer5Min: 1000,
      timeScale: { value: 1, given: true },
      speed,
      notes: [],
    };
    expect(passed(benchChecks(report))).toBe(false);
    const text = formatBenchReport(report);
    expect(text).toContain('bench-0: 251 − 1 = 250; floor 200');
    expect(text).toContain('[MISS] P5 /rotations p99, 1,000,000 rows');
    expect(text).toContain('[ok] P4 idle revoke');
  });
});
