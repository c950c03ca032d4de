import { analyze, byActivityType } from './figures';
import { verdict, type BenchReport } from './report';
import type { ScenarioRun } from './scenario';

const QUEUE = 'tw-bench-cloudflare';

/** A run whose activities each send `perActivity` requests, one activity every `gapMs`. */
function run(name: string, activitiesPerSecond: number, options: { activities: number; gapMs: number; perActivity: number; rateLimited?: number }): ScenarioRun {
  const activityStarts = Array.from({ length: options.activities }, (_, i) => i * options.gapMs);
  const requests = activityStarts.flatMap((at, i) =>
    Array.from({ length: options.perActivity }, (_, j) => ({ operationId: 'op', at: at + j, rateLimited: i * options.perActivity + j < (options.rateLimited ?? 0) })),
  );
  return {
    spec: { name, activitiesPerSecond, enforceLimit: name !== 'baseline' },
    timeScale: 10,
    tokens: 10,
    strategies: { 'rotate-secret': 5, replace: 5 },
    accessApps: 3,
    completed: 10,
    failed: [],
    unfinished: 0,
    wallMs: options.activities * options.gapMs,
    requests,
    activities: options.activities,
    activityStarts,
    attempts: activityStarts.map(() => ({ activityType: 'bindTokenToPolicies', taskQueue: QUEUE, requests: options.perActivity })),
    cloudflareQueue: QUEUE,
    requestsOutsideActivities: 0,
  };
}

function report(...scenarios: ScenarioRun[]): BenchReport {
  return {
    tokens: 10,
    defaultActivitiesPerSecond: 3,
    scenarios: scenarios.map((s) => analyze(s, 10)),
    calibration: { baselineActivitiesPerSecond: 30, machineActivitiesPerSecond: 18, given: false },
    load: {},
    cores: 2,
    durationMs: 1_000,
  };
}

describe('bench figures', () => {
  it("sees a run through Cloudflare's window at the time scale: busiest window, its activities and the ratio to the allowance", () => {
    // 30 activities/s of bench time at scale 10 (3/s in production), 2 requests each: 1,800 requests per 30-s window.
    const figures = analyze(run('default', 3, { activities: 1_200, gapMs: 1_000 / 30, perActivity: 2 }), 10);
    expect(figures.windowMs).toBe(30_000);
    expect(figures.busiest?.activities).toBe(900);
    expect(figures.busiest?.requests).toBe(1_800);
    expect(figures.peakRatio).toBeCloseTo(1.5);
    expect(figures.peakRequestsPerActivity).toBeCloseTo(2);
    expect(figures.budgetPerWindow).toBe(900);
    expect(figures.productionWallMs).toBeCloseTo(400_000);
  });

  it('groups requests per activity type of the Cloudflare queue only', () => {
    const figures = byActivityType(
      [
        { activityType: 'bindTokenToPolicies', taskQueue: QUEUE, requests: 9 },
        { activityType: 'bindTokenToPolicies', taskQueue: QUEUE, requests: 10 },
        { activityType: 'resolveServiceToken', taskQueue: QUEUE, requests: 1 },
        { activityType: 'probeCredential', taskQueue: 'tw-bench', requests: 1 },
      ],
      QUEUE,
    );
    expect(figures).toEqual([
      { activityType: 'bindTokenToPolicies', attempts: 2, requests: 19, meanRequests: 9.5, maxRequests: 10 },
      { activityType: 'resolveServiceToken', attempts: 1, requests: 1, meanRequests: 1, maxRequests: 1 },
    ]);
  });

  it('meets the goal only when the default stays within the allowance without a 429', () => {
    const baseline = run('baseline', 10_000, { activities: 600, gapMs: 10, perActivity: 3 });
    expect(verdict(report(baseline, run('default', 3, { activities: 1_200, gapMs: 1_000 / 30, perActivity: 1 }))).met).toBe(true);
    expect(verdict(report(baseline, run('default', 3, { activities: 1_200, gapMs: 1_000 / 30, perActivity: 2 }))).met).toBe(false);
    expect(verdict(report(baseline, run('default', 3, { activities: 1_200, gapMs: 1_000 / 30, perActivity: 1, rateLimited: 1 }))).met).toBe(false);
  });

  it('says when the baseline never exceeded the allowance', () => {
    const lines = verdict(report(run('baseline', 10_000, { activities: 100, gapMs: 10, perActivity: 3 }), run('default', 3, { activities: 1_200, gapMs: 1_000 / 30, perActivity: 1 }))).lines;
    expect(lines.some((line) => line.includes('The baseline did not exceed the allowance'))).toBe(true);
  });
});
