import { busiestWindow, span } from './windows';

/** Cloudflare's window, in production time. */
export const CLOUDFLARE_WINDOW_MS = 300_000;
/** Cloudflare's allowance per user and window. */
export const CLOUDFLARE_ALLOWANCE = 1_200;

/** Issue 10's bounds. */
export const BOUNDS = {
  /** The busiest 5-minute window of the fleet run, as a share of the budget. */
  busiestMin: 0.85,
  busiestMax: 1,
  /** Wall time ÷ (requests sent ÷ budget rate). */
  wallRatioMax: 1.15,
  /** p90(revoke → rotate) ÷ p90(bare floor). */
  revokeOverFloorMax: 2,
} as const;

/** One figure the bench judges: met, missed, or (null) shown for information only. */
export interface Check {
  label: string;
  met: boolean | null;
  detail: string;
}

/** The fields of a simulator request event the figures need. */
export interface SeenRequest {
  at: number;
  key: string;
  outside: boolean;
  rateLimited: boolean;
  operationId: string;
}

/** Nearest-rank percentile (p in 0–100) of the values; null when there are none. Infinity stands for a sample that never came. */
export function percentile(values: readonly number[], p: number): number | null {
  if (!values.length) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

/** Requests per operation id, most first. */
export function countByOperation(requests: readonly Pick<SeenRequest, 'operationId'>[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of requests) counts[r.operationId] = (counts[r.operationId] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0])));
}

// ---- Requests per operation ------------------------------------------------------------------

/** The least a careful client sends for each measured operation (issue 10, "Fewer requests"). */
export const minimum = {
  /** list (resolve) + rotate + expiry update (retire), and per Cloudflare-hosted store one write (the secret half: the client id is unchanged) and one read-back. */
  rotateSecret: (cloudflareStores: number) => 3 + 2 * cloudflareStores,
  /**
   * list (resolve) + create + per policy naming the token one GET and one PUT to bind the new token
   * and again to unbind the old + one read of the new token's `last_seen_at` while waiting (the
   * least evidence-based retire, issue 16, can ask) + delete; per Cloudflare-hosted store two
   * writes (a new client id and a new secret) and one read-back.
   */
  replace: (policies: number, cloudflareStores: number) => 4 + 4 * policies + 3 * cloudflareStores,
  /** One GET per token (each reads itself, its id known) + one permission-group list. */
  health: (tokens: number) => tokens + 1,
  /** list (resolve) + the rotate that ends the compromised secret as it issues the next, and per store one write and one read-back; no retire call. */
  revoke: (cloudflareStores: number) => 2 + 2 * cloudflareStores,
  /** The policy index's full scan: the reusable policies, the apps, each app's policies. */
  policyScan: (apps: number) => 2 + apps,
} as const;

export interface OperationFigure {
  name: string;
  /** How the minimum is made up, for the reader. */
  formula: string;
  minimum: number;
  /** Null when the operation did not complete (see `problem`). */
  measured: number | null;
  byOperation: Record<string, number>;
  /** Requests a first run spent beyond the measured one (a scan, an uncached lookup), shown apart. */
  oneOff: Array<{ label: string; requests: number; expected?: number }>;
  problem?: string;
}

export function operationCheck(op: OperationFigure): Check {
  if (op.measured === null)
    return { label: op.name, met: false, detail: `not measured: ${op.problem ?? 'the run did not complete'}` };
  const met = op.measured === op.minimum;
  const how =
    op.measured > op.minimum
      ? `${op.measured - op.minimum} more than`
      : op.measured < op.minimum
        ? `${op.minimum - op.measured} fewer than`
        : 'equal to';
  return { label: op.name, met, detail: `${op.measured} requests, ${how} the minimum ${op.minimum} (${op.formula})` };
}

// ---- The fleet ------------------------------------------------------------------------------

export interface RotationTally {
  /** Tokens of the fleet, and how many of them a completed run (scheduled or emergency) rotated. */
  tokens: number;
  rotated: number;
  completed: number;
  compensated: number;
  failed: number;
  /** Runs still running when the bench stopped waiting. */
  unfinished: number;
}

export interface FleetInput {
  /** token-warden's requests to the user's key (no outside ones), 429s included. */
  requests: readonly Pick<SeenRequest, 'at' | 'rateLimited'>[];
  timeScale: number;
  /** CLOUDFLARE_REQUESTS_PER_5_MIN in effect. */
  budgetPer5Min: number;
  /** First start to last end, bench (wall) milliseconds. */
  wallMs: number;
}

export interface FleetFigures {
  requests: number;
  rateLimited: number;
  /** Cloudflare's window at this time scale, in wall milliseconds. */
  windowMs: number;
  busiest: number;
  /** Busiest window ÷ the budget. */
  busiestShare: number;
  /** The run kept sending for at least one whole window (otherwise the busiest window is a lower bound). */
  coversWindow: boolean;
  /** Wall time in production time (× T). */
  productionWallMs: number;
  /** Requests sent ÷ the budget's rate, in production time: the least time they can take. */
  idealMs: number;
  wallRatio: number;
}

export function fleetFigures(input: FleetInput): FleetFigures {
  const windowMs = CLOUDFLARE_WINDOW_MS / input.timeScale;
  const times = input.requests.map((r) => r.at);
  const busiest = busiestWindow(times, windowMs)?.count ?? 0;
  const productionWallMs = input.wallMs * input.timeScale;
  const idealMs = (input.requests.length * CLOUDFLARE_WINDOW_MS) / input.budgetPer5Min;
  return {
    requests: input.requests.length,
    rateLimited: input.requests.filter((r) => r.rateLimited).length,
    windowMs,
    busiest,
    busiestShare: busiest / input.budgetPer5Min,
    coversWindow: span(times) >= windowMs,
    productionWallMs,
    idealMs,
    wallRatio: idealMs > 0 ? productionWallMs / idealMs : Infinity,
  };
}

const pct = (share: number) => `${(share * 100).toFixed(1)} %`;

export function fleetChecks(f: FleetFigures, budgetPer5Min: number, rotations: RotationTally): Check[] {
  const busiestMet = f.busiestShare >= BOUNDS.busiestMin && f.busiestShare <= BOUNDS.busiestMax;
  return [
    {
      label: "Cloudflare's 429",
      met: f.rateLimited === 0,
      detail: `${f.rateLimited} of ${f.requests} requests answered 429 (must be 0)`,
    },
    {
      label: 'busiest 5-minute window',
      met: busiestMet,
      detail: `${f.busiest} requests, ${pct(f.busiestShare)} of the budget of ${budgetPer5Min} (must be ${pct(BOUNDS.busiestMin)}–${pct(BOUNDS.busiestMax)})${f.coversWindow ? '' : '; the run was shorter than one window, so this is a lower bound'}`,
    },
    {
      label: 'wall time',
      met: f.wallRatio <= BOUNDS.wallRatioMax,
      detail: `${minutes(f.productionWallMs)} against ${minutes(f.idealMs)} for ${f.requests} requests at ${budgetPer5Min} per 5 min: ${f.wallRatio.toFixed(2)} × (must be ≤ ${BOUNDS.wallRatioMax.toFixed(2)} ×)`,
    },
    {
      label: 'rotations',
      met:
        rotations.rotated === rotations.tokens &&
        rotations.compensated === 0 &&
        rotations.failed === 0 &&
        rotations.unfinished === 0,
      detail: `${rotations.rotated} of ${rotations.tokens} tokens rotated; runs: ${rotations.completed} completed, ${rotations.compensated} compensated, ${rotations.failed} failed, ${rotations.unfinished} unfinished (must be every token, 0, 0, 0)`,
    },
  ];
}

export const minutes = (ms: number) =>
  ms >= 120_000 ? `${(ms / 60_000).toFixed(1)} min` : `${(ms / 1000).toFixed(1)} s`;

// ---- Latencies ------------------------------------------------------------------------------

export interface LatencyFigures {
  samples: number;
  /** Samples whose request never reached the simulator in time. */
  missing: number;
  p50: number | null;
  p90: number | null;
  max: number | null;
}

/** Null stands for a sample that never arrived: it counts as slower than any that did. */
export function latencyFigures(values: readonly (number | null)[]): LatencyFigures {
  const all = values.map((v) => v ?? Infinity);
  return {
    samples: values.length,
    missing: values.filter((v) => v === null).length,
    p50: percentile(all, 50),
    p90: percentile(all, 90),
    max: all.length ? Math.max(...all) : null,
  };
}

const ms = (value: number | null) => (value === null ? '–' : value === Infinity ? 'never' : `${Math.round(value)} ms`);

export function emergencyCheck(revoke: LatencyFigures, floor: LatencyFigures): Check {
  const detail = `revoke → rotate p50 ${ms(revoke.p50)}, p90 ${ms(revoke.p90)} (${revoke.samples} revokes${revoke.missing ? `, ${revoke.missing} never reached Cloudflare` : ''}); bare floor p50 ${ms(floor.p50)}, p90 ${ms(floor.p90)} (${floor.samples}${floor.missing ? `, ${floor.missing} missing` : ''}); must be ≤ ${BOUNDS.revokeOverFloorMax} × the floor's p90`;
  if (revoke.p90 === null || floor.p90 === null || floor.p90 === Infinity)
    return { label: 'emergency revoke', met: false, detail: `${detail}: not enough samples` };
  const ratio = revoke.p90 / floor.p90;
  return {
    label: 'emergency revoke',
    met: ratio <= BOUNDS.revokeOverFloorMax,
    detail: `${detail}: ${Number.isFinite(ratio) ? ratio.toFixed(2) : '∞'} ×`,
  };
}

export interface RevokeSample {
  token: string;
  /** POST → the `rotate` arriving at the simulator; null when it never came. */
  ms: number | null;
  /** POST → the API's 202. */
  answeredMs: number;
  /** Where the rest went, from the run's history (ms after the POST), when it could be read. */
  history?: { workflowTaskStarted: number | null; activityScheduled: number | null; activityStarted: number | null };
}

/** A revoke's timeline, ms after its POST. */
export function describeRevoke(r: RevokeSample): string {
  const h = r.history;
  const step = (label: string, ms: number | null | undefined) =>
    ms === null || ms === undefined ? '' : `, ${label} ${Math.round(ms)}`;
  return `202 at ${r.answeredMs}${step('first workflow task', h?.workflowTaskStarted)}${step('activity scheduled', h?.activityScheduled)}${step('activity started', h?.activityStarted)}, ${r.ms === null ? 'no rotate came' : `rotate at ${r.ms} ms`}`;
}

// ---- /tokens/status -------------------------------------------------------------------------

export interface StatusSample {
  ms: number;
  /** HTTP status, or null when the request failed without an answer. */
  status: number | null;
}

export interface StatusFigures {
  clients: number;
  requests: number;
  answers: number;
  /** Non-200 answers and failed requests, by status ("no answer" for the latter). */
  errors: Record<string, number>;
  /** 200 answers per second over the polling. */
  perSecond: number;
  p50: number | null;
  p99: number | null;
}

export function statusFigures(samples: readonly StatusSample[], durationMs: number, clients: number): StatusFigures {
  const ok = samples.filter((s) => s.status === 200);
  const errors: Record<string, number> = {};
  for (const s of samples)
    if (s.status !== 200)
      errors[s.status === null ? 'no answer' : String(s.status)] =
        (errors[s.status === null ? 'no answer' : String(s.status)] ?? 0) + 1;
  const times = samples.map((s) => s.ms);
  return {
    clients,
    requests: samples.length,
    answers: ok.length,
    errors,
    perSecond: durationMs > 0 ? (ok.length * 1000) / durationMs : 0,
    p50: percentile(times, 50),
    p99: percentile(times, 99),
  };
}

/** Shown, not judged (issue 10 sets no bound), but an error answer is reported. */
export function statusCheck(s: StatusFigures, intervalMs: number): Check {
  const errors = Object.entries(s.errors)
    .map(([status, n]) => `${n} × ${status}`)
    .join(', ');
  return {
    label: '/tokens/status',
    met: null,
    detail: `${s.clients} clients (each polling again ${intervalMs} ms after its answer): ${s.answers} answers, ${s.perSecond.toFixed(1)}/s, p50 ${ms(s.p50)}, p99 ${ms(s.p99)}${errors ? `; errors: ${errors}` : ''}`,
  };
}

// ---- An outside client on the same user -----------------------------------------------------

/** Blocks Cloudflare started: runs of refused requests, each begun by a request after an allowed one. */
export function lockouts(events: readonly Pick<SeenRequest, 'at' | 'rateLimited'>[]): number {
  let blocks = 0;
  let blocked = false;
  for (const e of [...events].sort((a, b) => a.at - b.at)) {
    if (e.rateLimited && !blocked) blocks++;
    blocked = e.rateLimited;
  }
  return blocks;
}

export interface OutsideFigures {
  headers: boolean;
  /** Every request of the user: token-warden's and the outside client's. */
  ours: number;
  our429: number;
  outsideSent: number;
  outsideRefused: number;
  lockouts: number;
  /**
   * Busiest sliding window of the user's accepted requests (both clients). It may exceed
   * Cloudflare's allowance without a 429: Cloudflare counts fixed windows (from a key's first request).
   */
  busiestCombined: number;
  busiestOurs: number;
}

export function outsideFigures(
  events: readonly SeenRequest[],
  userKey: string,
  windowMs: number,
  headers: boolean,
): OutsideFigures {
  const user = events.filter((e) => e.key === userKey);
  const ours = user.filter((e) => !e.outside);
  const outside = user.filter((e) => e.outside);
  return {
    headers,
    ours: ours.length,
    our429: ours.filter((e) => e.rateLimited).length,
    outsideSent: outside.length,
    outsideRefused: outside.filter((e) => e.rateLimited).length,
    lockouts: lockouts(user),
    busiestCombined:
      busiestWindow(
        user.filter((e) => !e.rateLimited).map((e) => e.at),
        windowMs,
      )?.count ?? 0,
    busiestOurs:
      busiestWindow(
        ours.filter((e) => !e.rateLimited).map((e) => e.at),
        windowMs,
      )?.count ?? 0,
  };
}

export function outsideCheck(o: OutsideFigures): Check {
  const detail = `token-warden sent ${o.ours} (${o.our429} × 429), the outside client ${o.outsideSent} (${o.outsideRefused} refused); ${o.lockouts} lockouts; busiest sliding window ${o.busiestCombined} (token-warden ${o.busiestOurs}) against Cloudflare's ${CLOUDFLARE_ALLOWANCE} per fixed window`;
  if (o.headers)
    return {
      label: 'outside client, headers on',
      met: o.lockouts === 0 && o.our429 === 0 && o.outsideRefused === 0,
      detail: `${detail} (must be 0 lockouts)`,
    };
  return {
    label: 'outside client, headers off',
    met: null,
    detail: `${detail}: ${o.lockouts ? `without Cloudflare's rate-limit headers token-warden relied on its own pace and ${o.lockouts === 1 ? 'a lockout' : `${o.lockouts} lockouts`} came (what the headers buy)` : 'no lockout even without the headers'}`,
  };
}

// ---- Time scale -----------------------------------------------------------------------------

/**
 * The time scale at which the budget asks for `share` of the requests per second this machine
 * managed unthrottled: the budget, not the CPU, then sets the pace. Bounded to [1, max]: above
 * ~30 Cloudflare's window (300 s ÷ T) gets too short for its rate-limit headers' whole seconds.
 */
export function timeScaleFor(machineRequestsPerSecond: number, budgetPer5Min: number, share: number, max = 30): number {
  const budgetPerSecond = budgetPer5Min / (CLOUDFLARE_WINDOW_MS / 1000);
  const scale = (share * machineRequestsPerSecond) / budgetPerSecond;
  return Math.round(Math.min(max, Math.max(1, scale)) * 10) / 10;
}

/** Requests per second over the middle 80 % of a burst (its ramp-up and tail left out). */
export function steadyRate(times: readonly number[]): number {
  if (times.length < 10) return 0;
  const sorted = [...times].sort((a, b) => a - b);
  const from = Math.floor(sorted.length * 0.1);
  const to = Math.ceil(sorted.length * 0.9) - 1;
  const ms = sorted[to]! - sorted[from]!;
  return ms > 0 ? ((to - from) * 1000) / ms : 0;
}

/** Whether the bench passed: every judged check met. */
export function passed(checks: readonly Check[]): boolean {
  return checks.every((c) => c.met !== false);
}
