import {
  describeRevoke,
  emergencyCheck,
  fleetChecks,
  fleetFigures,
  latencyFigures,
  lockouts,
  minimum,
  operationCheck,
  outsideCheck,
  outsideFigures,
  passed,
  percentile,
  statusFigures,
  steadyRate,
  timeScaleFor,
  type OperationFigure,
  type RotationTally,
  type SeenRequest,
} from './figures';
import { benchChecks, formatBenchReport, type BenchReport } from './report';

const allRotated: RotationTally = { tokens: 10, rotated: 10, completed: 10, compensated: 0, failed: 0, unfinished: 0 };

/** `n` requests one every `gapMs`, from 0. */
const steady = (n: number, gapMs: number, rateLimited = 0) =>
  Array.from({ length: n }, (_, i) => ({ at: i * gapMs, rateLimited: i < rateLimited }));

const op = (measured: number | null, min: number): OperationFigure => ({
  name: 'op',
  formula: 'f',
  minimum: min,
  measured,
  byOperation: {},
  oneOff: [],
});

describe('bench percentiles', () => {
  it('takes the nearest rank, so p90 of ten samples is the ninth', () => {
    const ten = [10, 1, 9, 2, 8, 3, 7, 4, 6, 5];
    expect(percentile(ten, 50)).toBe(5);
    expect(percentile(ten, 90)).toBe(9);
    expect(percentile(ten, 99)).toBe(10);
    expect(percentile([42], 90)).toBe(42);
    expect(percentile([], 50)).toBeNull();
  });

  it('counts a revoke whose rotate never came as slower than any that did', () => {
    const figures = latencyFigures([100, null, 120, 110, 90, 95, 105, 115, 125, 130]);
    expect(figures).toMatchObject({ samples: 10, missing: 1, p50: 110, p90: 130, max: Infinity });
    expect(latencyFigures([100, null]).p90).toBe(Infinity);
  });
});

describe('requests per operation', () => {
  it('has the minimum of issue 10 for each measured operation', () => {
    expect(minimum.rotateSecret(2)).toBe(3 + 2 * 2);
    expect(minimum.replace(3, 2)).toBe(1 + 1 + 3 * 2 + 3 * 2 + 1 + 1 + 2 * 3);
    expect(minimum.health(200)).toBe(201);
    expect(minimum.revoke(2)).toBe(6);
    expect(minimum.policyScan(20)).toBe(22);
  });

  it('misses when the measured count differs from the minimum either way, or was not measured', () => {
    expect(operationCheck(op(7, 7))).toMatchObject({
      met: true,
      detail: expect.stringContaining('equal to the minimum 7'),
    });
    expect(operationCheck(op(9, 7))).toMatchObject({
      met: false,
      detail: expect.stringContaining('2 more than the minimum 7'),
    });
    expect(operationCheck(op(6, 7))).toMatchObject({ met: false, detail: expect.stringContaining('1 fewer than') });
    expect(operationCheck({ ...op(null, 7), problem: 'RotationCompensated: probe refused' })).toMatchObject({
      met: false,
      detail: expect.stringContaining('RotationCompensated'),
    });
  });
});

describe('fleet figures', () => {
  // T = 10: Cloudflare's window is 30 s of wall time; a budget of 900 allows 30 requests a wall second.
  const T = 10;

  it('measures the busiest window in simulated time and the wall time against the budget rate', () => {
    // 2,700 requests one every 1/30 s: 90 s of wall time at exactly the budget's rate.
    const f = fleetFigures({ requests: steady(2_700, 1000 / 30), timeScale: T, budgetPer5Min: 900, wallMs: 90_000 });
    expect(f.windowMs).toBe(30_000);
    expect(f.busiest).toBe(900);
    expect(f.busiestShare).toBe(1);
    expect(f.coversWindow).toBe(true);
    expect(f.productionWallMs).toBe(900_000);
    expect(f.idealMs).toBe(900_000);
    expect(f.wallRatio).toBeCloseTo(1);
    expect(fleetChecks(f, 900, allRotated).map((c) => c.met)).toEqual([true, true, true, true]);
  });

  it('holds the busiest window to 85–100 % of the budget, bounds included', () => {
    const share = (busiest: number) =>
      fleetChecks(
        {
          ...fleetFigures({ requests: steady(10, 1), timeScale: T, budgetPer5Min: 900, wallMs: 1 }),
          busiest,
          busiestShare: busiest / 900,
        },
        900,
        allRotated,
      )[1]!.met;
    expect(share(765)).toBe(true);
    expect(share(764)).toBe(false);
    expect(share(900)).toBe(true);
    expect(share(901)).toBe(false);
  });

  it('misses the wall time above 1.15 × the least time the requests take at the budget rate', () => {
    const at = (wallMs: number) =>
      fleetChecks(
        fleetFigures({ requests: steady(300, 100), timeScale: T, budgetPer5Min: 900, wallMs }),
        900,
        allRotated,
      )[2]!;
    // 300 requests at 900 per 5 min take 100 s of production time: 10 s of wall time at T = 10.
    expect(at(11_500).met).toBe(true);
    expect(at(11_600)).toMatchObject({ met: false, detail: expect.stringContaining('1.16 ×') });
  });

  it('misses on any 429, any compensated, failed or unfinished run, and any token left unrotated', () => {
    const f = fleetFigures({ requests: steady(100, 10, 1), timeScale: T, budgetPer5Min: 900, wallMs: 1_000 });
    expect(f.rateLimited).toBe(1);
    expect(fleetChecks(f, 900, allRotated)[0]!.met).toBe(false);
    const clean = fleetFigures({ requests: steady(100, 10), timeScale: T, budgetPer5Min: 900, wallMs: 1_000 });
    for (const tally of [{ compensated: 1 }, { failed: 1 }, { unfinished: 1 }, { rotated: 9 }])
      expect(fleetChecks(clean, 900, { ...allRotated, ...tally })[3]!.met).toBe(false);
  });

  it('says when the run was shorter than one window (the busiest window is then a lower bound)', () => {
    const f = fleetFigures({ requests: steady(100, 10), timeScale: T, budgetPer5Min: 900, wallMs: 1_000 });
    expect(f.coversWindow).toBe(false);
    expect(fleetChecks(f, 900, allRotated)[1]!.detail).toContain('lower bound');
  });
});

describe('the emergency revoke against the bare floor', () => {
  const floor = latencyFigures([50, 60, 55, 52, 58, 61, 49, 57, 54, 100]);

  it('meets at p90 up to twice the floor’s p90, and misses above', () => {
    expect(floor.p90).toBe(61);
    expect(emergencyCheck(latencyFigures([122, 80, 90]), floor).met).toBe(true);
    expect(emergencyCheck(latencyFigures([123, 80, 90]), floor)).toMatchObject({
      met: false,
      detail: expect.stringContaining('2.02 ×'),
    });
  });

  it('misses when a revoke never reached Cloudflare or nothing was measured', () => {
    expect(emergencyCheck(latencyFigures([80, null]), floor)).toMatchObject({
      met: false,
      detail: expect.stringContaining('never reached Cloudflare'),
    });
    expect(emergencyCheck(latencyFigures([]), floor).met).toBe(false);
    expect(emergencyCheck(latencyFigures([80]), latencyFigures([])).met).toBe(false);
  });
});

describe('a revoke’s timeline', () => {
  it('reads as the milestones after the POST that are known', () => {
    expect(
      describeRevoke({
        token: 't',
        ms: 420,
        answeredMs: 40,
        history: { workflowTaskStarted: 95.4, activityScheduled: 120, activityStarted: null },
      }),
    ).toBe('202 at 40, first workflow task 95, activity scheduled 120, rotate at 420 ms');
    expect(describeRevoke({ token: 't', ms: null, answeredMs: 500 })).toBe('202 at 500, no rotate came');
  });
});

describe('/tokens/status figures', () => {
  it('gives the answer rate over the polling, the p99 and the errors', () => {
    const samples = [
      ...Array.from({ length: 98 }, (_, i) => ({ ms: i + 1, status: 200 })),
      { ms: 5_000, status: 503 },
      { ms: 60_000, status: null },
    ];
    const s = statusFigures(samples, 10_000, 10);
    expect(s).toMatchObject({
      clients: 10,
      requests: 100,
      answers: 98,
      perSecond: 9.8,
      p50: 50,
      p99: 5_000,
      errors: { '503': 1, 'no answer': 1 },
    });
  });
});

describe('an outside client on the same user', () => {
  const KEY = 'user:u';
  const seen = (at: number, outside: boolean, rateLimited = false, key = KEY): SeenRequest => ({
    at,
    key,
    outside,
    rateLimited,
    operationId: outside ? 'outside' : 'op',
  });

  it('counts a lockout per run of refused requests', () => {
    expect(lockouts([])).toBe(0);
    expect(
      lockouts([
        { at: 1, rateLimited: false },
        { at: 2, rateLimited: true },
        { at: 3, rateLimited: true },
        { at: 4, rateLimited: false },
        { at: 5, rateLimited: true },
      ]),
    ).toBe(2);
    expect(
      lockouts([
        { at: 3, rateLimited: true },
        { at: 1, rateLimited: false },
        { at: 2, rateLimited: true },
      ]),
    ).toBe(1);
  });

  it('meets with headers only when neither client met a 429, and only reports without them', () => {
    const clean = outsideFigures(
      [seen(0, true), seen(1, false), seen(2, false), seen(3, false, false, 'user:other')],
      KEY,
      100,
      true,
    );
    expect(clean).toMatchObject({
      ours: 2,
      outsideSent: 1,
      our429: 0,
      outsideRefused: 0,
      lockouts: 0,
      busiestCombined: 3,
      busiestOurs: 2,
    });
    expect(outsideCheck(clean).met).toBe(true);
    const locked = outsideFigures([seen(0, true), seen(1, false), seen(2, true, true)], KEY, 100, true);
    expect(locked).toMatchObject({ outsideRefused: 1, lockouts: 1 });
    expect(outsideCheck(locked).met).toBe(false);
    const withoutHeaders = outsideCheck(outsideFigures([seen(0, false), seen(1, false, true)], KEY, 100, false));
    expect(withoutHeaders).toMatchObject({ met: null, detail: expect.stringContaining('what the headers buy') });
  });
});

describe('time scale', () => {
  it('asks the budget for the given share of what the machine managed, within bounds', () => {
    // 900 per 5 min is 3 a second: half of 60/s is 10 × that.
    expect(timeScaleFor(60, 900, 0.5)).toBe(10);
    expect(timeScaleFor(1, 900, 0.5)).toBe(1);
    expect(timeScaleFor(10_000, 900, 0.5)).toBe(30);
  });

  it('measures a burst’s rate over its steady middle', () => {
    // A slow start and a slow tail around 100 requests 10 ms apart.
    const times = [0, 500, 1_000, ...Array.from({ length: 100 }, (_, i) => 2_000 + i * 10), 4_000, 5_000, 6_000];
    expect(steadyRate(times)).toBeGreaterThan(95);
    expect(steadyRate(times)).toBeLessThan(105);
    expect(steadyRate([1, 2])).toBe(0);
  });
});

describe('the verdict', () => {
  const report = (operations: OperationFigure[]): BenchReport => ({
    cores: 2,
    loadBefore: [1, 1, 1],
    durationMs: 1_000,
    budgetPer5Min: 900,
    timeScale: { value: 10, given: true },
    operations,
    notes: [],
  });

  it('passes when every judged figure is met; information never fails it', () => {
    expect(
      passed([
        { label: 'a', met: true, detail: '' },
        { label: 'b', met: null, detail: '' },
      ]),
    ).toBe(true);
    expect(
      passed([
        { label: 'a', met: true, detail: '' },
        { label: 'b', met: false, detail: '' },
      ]),
    ).toBe(false);
    expect(passed(benchChecks(report([op(7, 7)])))).toBe(true);
  });

  it('prints measured beside minimum and says what was missed', () => {
    const text = formatBenchReport(report([op(7, 7), op(9, 7)]));
    expect(text).toContain('MISS');
    expect(text).toContain('NOT MET: 1 figure missed');
    expect(formatBenchReport(report([op(7, 7)]))).toContain('ALL MET');
  });
});
