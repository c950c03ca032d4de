import { CLOUDFLARE_ALLOWANCE, CLOUDFLARE_WINDOW_MS, type ScenarioFigures } from './figures';

export interface BenchReport {
  tokens: number;
  /** The configuration's default CLOUDFLARE_ACTIVITIES_PER_SECOND. */
  defaultActivitiesPerSecond: number;
  scenarios: ScenarioFigures[];
  /** How the time scale was chosen: from the baseline's throughput, or given. */
  calibration: { baselineActivitiesPerSecond: number; machineActivitiesPerSecond: number; given: boolean };
  /** 1-minute load average before each scenario, and the number of cores. */
  load: Record<string, number>;
  cores: number;
  durationMs: number;
}

export interface Verdict {
  /** The performance goal: the default's busiest window within the allowance and no 429 from Cloudflare's limit. */
  met: boolean;
  lines: string[];
}

const n = (value: number) => Math.round(value).toLocaleString('en-US');
const x = (value: number) => `${value.toFixed(2)} ×`;
const rotations = (count: number) => `${count} rotation${count === 1 ? '' : 's'}`;
const duration = (ms: number) => (ms >= 120_000 ? `${(ms / 60_000).toFixed(1)} min` : `${(ms / 1000).toFixed(1)} s`);
/** Cloudflare's allowance as a steady rate: 1,200 / 300 s. */
const ALLOWED_PER_SECOND = CLOUDFLARE_ALLOWANCE / (CLOUDFLARE_WINDOW_MS / 1000);

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `  ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')}`;
  return [line(header), ...rows.map(line)];
}

/** Whether the default configuration kept within Cloudflare's allowance, and why. */
export function verdict(report: BenchReport): Verdict {
  const baseline = report.scenarios.find((s) => s.run.spec.name === 'baseline');
  const d = report.scenarios.find((s) => s.run.spec.name === 'default');
  if (!d) return { met: false, lines: ['NOT MET: no default scenario ran'] };
  const lines: string[] = [];
  const met = (d.busiest?.requests ?? 0) <= CLOUDFLARE_ALLOWANCE && d.rateLimited === 0;
  const budget = d.run.spec.activitiesPerSecond;
  lines.push(
    `${met ? 'MET' : 'NOT MET'}: at the default ${budget} Cloudflare activities/s the busiest 5-minute window held ${n(d.busiest?.requests ?? 0)} requests, ${x(d.peakRatio)} Cloudflare's ${n(CLOUDFLARE_ALLOWANCE)}, and Cloudflare answered ${n(d.rateLimited)} requests 429.`,
  );
  lines.push(
    `  At the peak an activity cost ${d.peakRequestsPerActivity.toFixed(2)} requests (${d.requestsPerActivity.toFixed(2)} over the whole run); ${budget}/s holds only below ${(ALLOWED_PER_SECOND / budget).toFixed(2)}. With the peak's mix the budget would have to be at most ${(ALLOWED_PER_SECOND / (d.peakRequestsPerActivity || 1)).toFixed(2)}/s.`,
  );
  const worst = report.scenarios
    .filter((s) => s !== baseline)
    .flatMap((s) => s.byActivityType)
    .reduce<{ activityType: string; maxRequests: number } | null>((best, a) => (!best || a.maxRequests > best.maxRequests ? a : best), null);
  if (worst) {
    lines.push(
      `  The costliest activity, ${worst.activityType}, sent ${worst.maxRequests} requests in one attempt: only a budget of at most ${(ALLOWED_PER_SECOND / worst.maxRequests).toFixed(2)}/s holds whatever the mix (Access policy binds and unbinds list every app's policies: this account has ${d.run.accessApps} apps; a larger one costs more).`,
    );
  }
  for (const s of report.scenarios.filter((s) => s !== baseline)) {
    if (s.activitySpanMs < s.windowMs) lines.push(`  ${s.run.spec.name}: the Cloudflare queue was busy for less than one window (${duration(s.activitySpanMs)} of ${duration(s.windowMs)}): its busiest window is a lower bound. Raise --tokens.`);
    else if (s.busiestActivities < 0.85 * s.budgetPerWindow) {
      const why = s.rateLimited ? "Cloudflare's 429s left rotations waiting out retry backoffs" : 'a CPU-starved machine? check uptime, or lower --time-scale';
      lines.push(`  ${s.run.spec.name}: the limiter dispatched ${n(s.busiestActivities)} activities in its busiest window of ${n(s.budgetPerWindow)} allowed: the queue was not saturated (${why}).`);
    }
  }
  if (baseline && baseline.peakRatio <= 1) lines.push(`  The baseline did not exceed the allowance (${x(baseline.peakRatio)}): the comparison proves little. Raise --tokens, or --time-scale.`);
  for (const s of report.scenarios) {
    if (s.requestsOutsideCloudflareQueue) lines.push(`  ${s.run.spec.name}: ${n(s.requestsOutsideCloudflareQueue)} Cloudflare requests came from activities outside the rate-limited queue.`);
    if (s.run.requestsOutsideActivities) lines.push(`  ${s.run.spec.name}: ${n(s.run.requestsOutsideActivities)} Cloudflare requests came from outside any activity.`);
    if (s.run.unfinished || s.run.failed.length) lines.push(`  ${s.run.spec.name}: ${rotations(s.run.failed.length)} failed (${[...new Set(s.run.failed.map((f) => f.type))].join(', ') || 'none'}), ${rotations(s.run.unfinished)} did not finish in time.`);
  }
  return { met, lines };
}

/** The bench's figures for a terminal. */
export function formatBenchReport(report: BenchReport): string {
  const lines: string[] = [];
  const first = report.scenarios[0];
  const baseline = report.scenarios.find((s) => s.run.spec.name === 'baseline');
  const strategies = first ? Object.entries(first.run.strategies).map(([s, c]) => `${c} ${s}`).join(', ') : '';
  const { calibration } = report;
  lines.push(`token-warden bench: Cloudflare requests against the worker's Cloudflare activity budget (DESIGN.md §2)`);
  lines.push(`  ${report.tokens} service tokens (${strategies}) rotated at once, in an account with ${first?.run.accessApps ?? 0} Access apps.`);
  lines.push(
    `  Time scale: Cloudflare's 5-minute window and each budget run T × faster, so every throttled scenario dispatches ${calibration.machineActivitiesPerSecond.toFixed(1)} Cloudflare activities/s of bench time (${calibration.given ? 'from --time-scale' : `60% of the ${calibration.baselineActivitiesPerSecond.toFixed(1)}/s this machine managed in the baseline`}); figures are production's (durations × T). Timers and retry backoffs are not scaled.`,
  );
  lines.push(`  ${report.cores} cores; 1-minute load average before each scenario: ${Object.entries(report.load).map(([name, load]) => `${name} ${load.toFixed(2)}`).join(', ')}; the run took ${duration(report.durationMs)}.`);
  lines.push('');
  lines.push(
    ...table(
      ['scenario', 'activities/s', 'T', 'CF limit', 'rotations', 'wall', 'rot/min', 'requests', '429s', 'CF activities', 'req/act', 'busiest window', 'peak req/act', 'peak'],
      report.scenarios.map((s) => [
        s.run.spec.name,
        s === baseline ? 'unlimited' : String(s.run.spec.activitiesPerSecond),
        s.timeScale.toFixed(1),
        s.run.spec.enforceLimit ? 'on' : 'off',
        `${s.run.completed}/${s.run.tokens}`,
        duration(s.productionWallMs),
        s.rotationsPerProductionMinute.toFixed(1),
        n(s.requests),
        n(s.rateLimited),
        n(s.run.activities),
        s.requestsPerActivity.toFixed(2),
        `${n(s.busiest?.requests ?? 0)} req, ${n(s.busiest?.activities ?? 0)} act`,
        s.peakRequestsPerActivity.toFixed(2),
        `${x(s.peakRatio)} allowance`,
      ]),
    ),
  );
  lines.push('  wall and rot/min in production time; busiest window: the busiest sliding 5-minute window of requests, and the Cloudflare activities dispatched in it;');
  lines.push(`  peak: that window ÷ Cloudflare's ${n(CLOUDFLARE_ALLOWANCE)}. The baseline sends what it would without a budget (Cloudflare's limit off), seen through the default's window.`);
  lines.push('');
  if (baseline) {
    for (const s of report.scenarios.filter((s) => s !== baseline)) {
      lines.push(
        `  ${s.run.spec.name}: peak ${x(s.peakRatio)} Cloudflare's allowance (baseline ${x(baseline.peakRatio)}); ${x(baseline.productionWallMs ? s.productionWallMs / baseline.productionWallMs : 0)} the baseline's wall time; ${n(s.busiestActivities)} activities in its busiest window (budget ${n(s.budgetPerWindow)}).`,
      );
    }
    lines.push('');
  }
  const shown = report.scenarios.find((s) => s.run.spec.name === 'default') ?? first;
  if (shown) {
    lines.push(`  Cloudflare requests per activity attempt (${shown.run.spec.name}):`);
    lines.push(...table(['activity', 'attempts', 'requests', 'mean', 'worst'], shown.byActivityType.map((a) => [a.activityType, n(a.attempts), n(a.requests), a.meanRequests.toFixed(2), n(a.maxRequests)])));
    lines.push('');
  }
  lines.push(...verdict(report).lines);
  return lines.join('\n');
}
