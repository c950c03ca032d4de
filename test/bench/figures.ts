import type { AttemptRequests } from './attribution';
import type { ScenarioRun } from './scenario';
import { busiestWindow, countIn, meanAndMax, span } from './windows';

/** Cloudflare's limit: requests per window per API token, and the window. */
export const CLOUDFLARE_ALLOWANCE = 1_200;
export const CLOUDFLARE_WINDOW_MS = 300_000;

export interface ActivityTypeFigures {
  activityType: string;
  /** Attempts that sent at least one request. */
  attempts: number;
  requests: number;
  meanRequests: number;
  maxRequests: number;
}

/** A scenario's observations seen through Cloudflare's window at one time scale. */
export interface ScenarioFigures {
  run: ScenarioRun;
  /** The time scale the window was divided by (the scenario's own, or the default's for the baseline). */
  timeScale: number;
  /** Cloudflare's window at that scale, in bench time. */
  windowMs: number;
  /** Wall time in production's time: bench wall time × the time scale. */
  productionWallMs: number;
  rotationsPerProductionMinute: number;
  requests: number;
  rateLimited: number;
  requestsByOperation: Record<string, number>;
  /** Cloudflare requests per Cloudflare activity over the whole run. */
  requestsPerActivity: number;
  /** The busiest window of requests, and the Cloudflare activities dispatched in it. */
  busiest: { requests: number; activities: number } | null;
  /** Busiest window ÷ Cloudflare's allowance (1 = exactly 1,200 requests). */
  peakRatio: number;
  /** Requests per activity inside the busiest window: the mix the limiter let through at the peak. */
  peakRequestsPerActivity: number;
  /** The busiest window of activity dispatches: what the limiter bounds. */
  busiestActivities: number;
  /** Activities the scenario's budget allows in one window. */
  budgetPerWindow: number;
  /** How long the Cloudflare queue dispatched activities, first to last, in bench time. */
  activitySpanMs: number;
  byActivityType: ActivityTypeFigures[];
  /** Requests sent by activities of other (unlimited) queues: the limiter never saw them. */
  requestsOutsideCloudflareQueue: number;
}

export function byActivityType(attempts: readonly AttemptRequests[], queue: string): ActivityTypeFigures[] {
  const groups = new Map<string, number[]>();
  for (const attempt of attempts) {
    if (attempt.taskQueue !== queue) continue;
    const list = groups.get(attempt.activityType) ?? [];
    list.push(attempt.requests);
    groups.set(attempt.activityType, list);
  }
  return [...groups.entries()]
    .map(([activityType, counts]) => {
      const { mean, max } = meanAndMax(counts);
      return { activityType, attempts: counts.length, requests: counts.reduce((a, b) => a + b, 0), meanRequests: mean, maxRequests: max };
    })
    .sort((a, b) => b.requests - a.requests);
}

/** Cloudflare activities the machine dispatched per second of bench time while the queue was busy. */
export function activityThroughput(run: ScenarioRun): number {
  const ms = span(run.activityStarts);
  return ms > 0 ? (run.activities * 1000) / ms : 0;
}

export function analyze(run: ScenarioRun, timeScale: number): ScenarioFigures {
  const windowMs = CLOUDFLARE_WINDOW_MS / timeScale;
  const times = run.requests.map((e) => e.at);
  const peak = busiestWindow(times, windowMs);
  const busiest = peak && { requests: peak.count, activities: countIn(run.activityStarts, peak.from, windowMs) };
  const requestsByOperation: Record<string, number> = {};
  for (const e of run.requests) requestsByOperation[e.operationId] = (requestsByOperation[e.operationId] ?? 0) + 1;
  const productionWallMs = run.wallMs * timeScale;
  return {
    run,
    timeScale,
    windowMs,
    productionWallMs,
    rotationsPerProductionMinute: productionWallMs ? (run.completed * 60_000) / productionWallMs : 0,
    requests: times.length,
    rateLimited: run.requests.filter((e) => e.rateLimited).length,
    requestsByOperation,
    requestsPerActivity: run.activities ? times.length / run.activities : 0,
    busiest,
    peakRatio: (busiest?.requests ?? 0) / CLOUDFLARE_ALLOWANCE,
    peakRequestsPerActivity: busiest && busiest.activities ? busiest.requests / busiest.activities : 0,
    busiestActivities: busiestWindow(run.activityStarts, windowMs)?.count ?? 0,
    budgetPerWindow: run.spec.activitiesPerSecond * (CLOUDFLARE_WINDOW_MS / 1000),
    activitySpanMs: span(run.activityStarts),
    byActivityType: byActivityType(run.attempts, run.cloudflareQueue),
    requestsOutsideCloudflareQueue: run.attempts.filter((a) => a.taskQueue !== run.cloudflareQueue).reduce((sum, a) => sum + a.requests, 0),
  };
}
