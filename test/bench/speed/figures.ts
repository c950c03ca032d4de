import { latencyFigures, percentile, type Check, type LatencyFigures } from '../figures';

/** Issue 13's speed goals, each against a floor measured in the same run. */
export const SPEED_BOUNDS = {
  /** P3: a rotation's time beyond its configured wait ÷ a bare 6-activity workflow (median and p90). */
  rotationOverFloorMax: 1.5,
  /** P4: revoke → Cloudflare's rotate ÷ a bare signalWithStart + one HTTP call (median and p90). */
  revokeOverFloorMax: 1.5,
  /** P5: /health and /tokens/status requests per second ÷ a bare Fastify route's. */
  throughputShareMin: 0.5,
  /** P5: p99 of the history lists with a million rows ÷ the bare route's p99. */
  historyP99OverBareMax: 10,
} as const;

/** A timer event of a workflow history: its id and when it happened (ms). */
export interface TimerEvent {
  kind: 'started' | 'fired';
  timerId: string;
  at: number;
}

/** The time the run spent in its timers (TimerStarted → TimerFired), summed; unfired timers count nothing. */
export function timerMs(events: readonly TimerEvent[]): number {
  const started = new Map<string, number>();
  let total = 0;
  for (const e of events) {
    if (e.kind === 'started') started.set(e.timerId, e.at);
    else if (started.has(e.timerId)) total += e.at - started.get(e.timerId)!;
  }
  return total;
}

const ms = (value: number | null) => (value === null ? '–' : value === Infinity ? 'never' : `${Math.round(value)} ms`);
const ratioText = (r: number | null) => (r === null ? '–' : Number.isFinite(r) ? `${r.toFixed(2)} ×` : '∞ ×');

/** a ÷ b of two figures, null when either is missing (∞ when a never came). */
export function ratio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || b === Infinity || b <= 0) return null;
  return a / b;
}

/** A latency against its floor: both the medians' and the p90s' ratio must be ≤ max. */
export function floorRatioCheck(
  label: string,
  measured: readonly (number | null)[],
  floor: readonly (number | null)[],
  max: number,
): Check & { measured: LatencyFigures; floor: LatencyFigures; p50Ratio: number | null; p90Ratio: number | null } {
  const m = latencyFigures(measured);
  const f = latencyFigures(floor);
  const p50Ratio = ratio(m.p50, f.p50);
  const p90Ratio = ratio(m.p90, f.p90);
  const detail = `p50 ${ms(m.p50)}, p90 ${ms(m.p90)} (${m.samples}${m.missing ? `, ${m.missing} missing` : ''}); floor p50 ${ms(f.p50)}, p90 ${ms(f.p90)} (${f.samples}${f.missing ? `, ${f.missing} missing` : ''}); p50 ${ratioText(p50Ratio)}, p90 ${ratioText(p90Ratio)}, each must be ≤ ${max} ×`;
  const met = p50Ratio !== null && p90Ratio !== null && p50Ratio <= max && p90Ratio <= max;
  return { label, met, detail, measured: m, floor: f, p50Ratio, p90Ratio };
}

/** One load round against one URL. */
export interface LoadRound {
  /** Answers with a 2xx status. */
  ok: number;
  /** Answers with another status, or no answer. */
  failed: number;
  ms: number;
  /** Each 2xx answer's latency. */
  latencies: number[];
}

export const perSecond = (round: LoadRound) => (round.ms > 0 ? (round.ok * 1000) / round.ms : 0);

/** Median requests per second over a route's rounds: must be ≥ min × the bare route's. */
export function throughputCheck(
  label: string,
  rounds: readonly LoadRound[],
  bare: readonly LoadRound[],
  min: number,
): Check & { perSecond: number | null; barePerSecond: number | null; share: number | null } {
  const rate = percentile(rounds.map(perSecond), 50);
  const bareRate = percentile(bare.map(perSecond), 50);
  const share = ratio(rate, bareRate);
  const failed = rounds.reduce((n, r) => n + r.failed, 0);
  const detail = `${rate === null ? '–' : rate.toFixed(0)}/s vs bare route ${bareRate === null ? '–' : bareRate.toFixed(0)}/s (median of ${rounds.length} rounds${failed ? `; ${failed} answers not 2xx` : ''}): ${share === null ? '–' : `${(share * 100).toFixed(1)} %`}, must be ≥ ${min * 100} %`;
  return {
    label,
    met: share !== null && failed === 0 && share >= min,
    detail,
    perSecond: rate,
    barePerSecond: bareRate,
    share,
  };
}

/** p99 of every answer of a route's rounds: must be ≤ max × the bare route's p99. */
export function tailCheck(
  label: string,
  rounds: readonly LoadRound[],
  bare: readonly LoadRound[],
  max: number,
): Check & { p99: number | null; bareP99: number | null; ratio: number | null } {
  const p99 = percentile(
    rounds.flatMap((r) => r.latencies),
    99,
  );
  const bareP99 = percentile(
    bare.flatMap((r) => r.latencies),
    99,
  );
  const r = ratio(p99, bareP99);
  const failed = rounds.reduce((n, x) => n + x.failed, 0);
  const detail = `p99 ${ms(p99)} vs bare route p99 ${ms(bareP99)}${failed ? ` (${failed} answers not 2xx)` : ''}: ${ratioText(r)}, must be ≤ ${max} ×`;
  return { label, met: r !== null && failed === 0 && r <= max, detail, p99, bareP99, ratio: r };
}
