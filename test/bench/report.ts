import {
  BOUNDS,
  describeRevoke,
  CLOUDFLARE_ALLOWANCE,
  emergencyCheck,
  fleetChecks,
  latencyFigures,
  minutes,
  operationCheck,
  outsideCheck,
  passed,
  statusCheck,
  type Check,
  type FleetFigures,
  type OperationFigure,
  type OutsideFigures,
  type RevokeSample,
  type RotationTally,
  type StatusFigures,
} from './figures';
import { formatSpeed, speedChecks, type SpeedSection } from './speed/report';

export interface FleetSection {
  tokens: number;
  strategies: Record<string, number>;
  apiTokens: number;
  apps: number;
  policies: number;
  /** Tokens with a Workers-secret / Secrets-Store target (every token has a file store). */
  cloudflareTargets: { workersSecret: number; secretsStore: number };
  workers: number;
  figures: FleetFigures;
  byOperation: Record<string, number>;
  rotations: RotationTally;
  revokes: Array<number | null>;
  revokeSamples: RevokeSample[];
  floors: Array<number | null>;
  status: StatusFigures;
  pollIntervalMs: number;
  fanOutMs: number | null;
  healthMs: number | null;
  notes: string[];
}

export interface OutsideSection {
  tokens: number;
  figures: OutsideFigures;
  rotations: RotationTally;
  wallMs: number;
  notes: string[];
}

export interface BenchReport {
  cores: number;
  /** 1-, 5- and 15-minute load averages when the bench began. */
  loadBefore: number[];
  durationMs: number;
  budgetPer5Min: number;
  timeScale: {
    value: number;
    given: boolean;
    machineRequestsPerSecond?: number;
    share?: number;
    calibrationTokens?: number;
  };
  operations?: OperationFigure[];
  fleet?: FleetSection;
  outside?: OutsideSection[];
  speed?: SpeedSection;
  notes: string[];
}

/** Every figure the bench judges or shows, in the order it prints them. */
export function benchChecks(report: BenchReport): Check[] {
  const checks: Check[] = [];
  for (const op of report.operations ?? []) checks.push(operationCheck(op));
  const fleet = report.fleet;
  if (fleet) {
    checks.push(...fleetChecks(fleet.figures, report.budgetPer5Min, fleet.rotations));
    checks.push(emergencyCheck(latencyFigures(fleet.revokes), latencyFigures(fleet.floors)));
    checks.push(statusCheck(fleet.status, fleet.pollIntervalMs));
  }
  for (const outside of report.outside ?? []) {
    checks.push(outsideCheck(outside.figures));
    const r = outside.rotations;
    checks.push({
      label: `rotations beside the outside client (headers ${outside.figures.headers ? 'on' : 'off'})`,
      met: r.compensated === 0 && r.failed === 0 && r.unfinished === 0 && r.rotated === r.tokens,
      detail: `${r.rotated} of ${r.tokens} tokens rotated in ${minutes(outside.wallMs)}; ${r.compensated} compensated, ${r.failed} failed, ${r.unfinished} unfinished (a 429 is a wait, never a failure)`,
    });
  }
  if (report.speed) checks.push(...speedChecks(report.speed));
  return checks;
}

const mark = (met: boolean | null) => (met === null ? 'info' : met ? 'ok' : 'MISS');

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    `  ${cells.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')}`;
  return [line(header), ...rows.map(line)];
}

const top = (counts: Record<string, number>, n = 8) =>
  Object.entries(counts)
    .slice(0, n)
    .map(([op, c]) => `${op} ${c}`)
    .join(', ');

export function formatBenchReport(report: BenchReport): string {
  const lines: string[] = [];
  const ts = report.timeScale;
  const perSecond = (report.budgetPer5Min / 300) * ts.value;
  const budget = report.operations !== undefined || report.fleet !== undefined || report.outside !== undefined;
  lines.push(
    budget
      ? `token-warden bench: the Cloudflare request budget (issue 10's figures)${report.speed ? " and issue 13's speed goals" : ''}`
      : "token-warden bench: issue 13's speed goals",
  );
  lines.push(
    `  ${report.cores} cores, load average ${report.loadBefore.map((l) => l.toFixed(2)).join(' / ')} at the start; the bench took ${minutes(report.durationMs)}.`,
  );
  if (budget)
    lines.push(
      `  Time scale T = ${ts.value}: Cloudflare's 5-minute window (simulator) and the budget's (CLOUDFLARE_BUDGET_WINDOW_SECONDS = ${(300 / ts.value).toFixed(1)}) run T × faster; ` +
        (ts.given
          ? 'given by --time-scale.'
          : `calibrated: ${ts.calibrationTokens} rotations at once, unthrottled, sent ${ts.machineRequestsPerSecond?.toFixed(1)} requests/s on this machine, and the budget asks for ${Math.round((ts.share ?? 0) * 100)} % of that.`),
    );
  if (budget)
    lines.push(
      `  Budget: CLOUDFLARE_REQUESTS_PER_5_MIN unset (default ${report.budgetPer5Min}), ${perSecond.toFixed(1)} requests per wall second at T. Durations below are production time (wall × T) unless marked wall.`,
    );
  lines.push('');

  if (report.operations?.length) {
    lines.push('Requests per operation, each alone on the fleet stack before the fleet:');
    lines.push(
      ...table(
        ['operation', 'measured', 'minimum', ''],
        report.operations.map((op) => [
          op.name,
          op.measured === null ? '–' : String(op.measured),
          String(op.minimum),
          mark(operationCheck(op).met),
        ]),
      ),
    );
    for (const op of report.operations) {
      lines.push(
        `    ${op.name}: ${op.formula}; sent ${top(op.byOperation, 12) || 'nothing'}${op.problem ? `; FAILED: ${op.problem}` : ''}`,
      );
      for (const extra of op.oneOff)
        lines.push(
          `      one-off, not counted above: ${extra.label}: ${extra.requests} more${extra.expected !== undefined ? ` (expected ${extra.expected})` : ''}`,
        );
    }
    lines.push('');
  }

  const fleet = report.fleet;
  if (fleet) {
    const f = fleet.figures;
    const strategies = Object.entries(fleet.strategies)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ');
    lines.push(
      `The fleet: ${fleet.tokens} service tokens (${strategies}; ${fleet.apps} Access apps, ${fleet.policies} policies, 1–3 per token; a file store each, ${fleet.cloudflareTargets.workersSecret} with a Workers secret, ${fleet.cloudflareTargets.secretsStore} with a Secrets Store secret)`,
    );
    lines.push(
      `  rotated by rotateAllServiceTokens while checkTokenHealth checked ${fleet.apiTokens} API tokens of the same user, on ${fleet.workers} worker processes (src/worker.ts).`,
    );
    lines.push(`  requests sent: ${f.requests} (${top(fleet.byOperation)})`);
    lines.push(`  Cloudflare's 429: ${f.rateLimited}`);
    lines.push(
      `  busiest 5-minute window (sliding): ${f.busiest} requests = ${(f.busiestShare * 100).toFixed(1)} % of ${report.budgetPer5Min} (${((f.busiest / CLOUDFLARE_ALLOWANCE) * 100).toFixed(1)} % of Cloudflare's ${CLOUDFLARE_ALLOWANCE})`,
    );
    lines.push(
      `  wall time: ${minutes(f.productionWallMs)} (wall ${minutes(f.productionWallMs / ts.value)}); requests ÷ budget rate: ${minutes(f.idealMs)}; ratio ${f.wallRatio.toFixed(2)} × (bound ${BOUNDS.wallRatioMax})`,
    );
    lines.push(
      `  fan-out finished after ${fleet.fanOutMs === null ? '–' : minutes(fleet.fanOutMs * ts.value)}, health check after ${fleet.healthMs === null ? '–' : minutes(fleet.healthMs * ts.value)}`,
    );
    const r = fleet.rotations;
    lines.push(
      `  rotations: ${r.rotated} of ${r.tokens} tokens rotated; runs ${r.completed} completed, ${r.compensated} compensated, ${r.failed} failed, ${r.unfinished} unfinished`,
    );
    const revoke = latencyFigures(fleet.revokes);
    const floor = latencyFigures(fleet.floors);
    const ms = (v: number | null) => (v === null ? '–' : v === Infinity ? 'never' : `${Math.round(v)} ms`);
    lines.push(
      `  during it (wall time): emergency revoke → Cloudflare rotate p50 ${ms(revoke.p50)}, p90 ${ms(revoke.p90)}, max ${ms(revoke.max)} (${revoke.samples}); bare floor p50 ${ms(floor.p50)}, p90 ${ms(floor.p90)} (${floor.samples})`,
    );
    for (const sample of fleet.revokeSamples)
      lines.push(`    revoke ${sample.token} (ms after the POST): ${describeRevoke(sample)}`);
    lines.push(`    floors: ${fleet.floors.map(ms).join(', ') || '–'}`);
    const s = fleet.status;
    lines.push(
      `  GET /tokens/status, ${s.clients} clients: ${s.answers} answers of ${s.requests}, ${s.perSecond.toFixed(1)}/s, p50 ${ms(s.p50)}, p99 ${ms(s.p99)} (wall time)`,
    );
    for (const note of fleet.notes) lines.push(`  note: ${note}`);
    lines.push('');
  }

  for (const outside of report.outside ?? []) {
    const o = outside.figures;
    lines.push(
      `Outside client, rate-limit headers ${o.headers ? 'on' : 'OFF'}: ${outside.tokens} rotations while another client of the same user spends 30 % of Cloudflare's allowance, evenly`,
    );
    lines.push(
      `  token-warden: ${o.ours} requests, ${o.our429} × 429; outside: ${o.outsideSent} requests, ${o.outsideRefused} refused; lockouts ${o.lockouts}; busiest sliding window ${o.busiestCombined} (token-warden ${o.busiestOurs}; Cloudflare allows ${CLOUDFLARE_ALLOWANCE} per fixed window)`,
    );
    for (const note of outside.notes) lines.push(`  note: ${note}`);
    lines.push('');
  }

  if (report.speed) lines.push(...formatSpeed(report.speed));

  const checks = benchChecks(report);
  lines.push('Verdict:');
  for (const c of checks) lines.push(`  [${mark(c.met)}] ${c.label}: ${c.detail}`);
  for (const note of report.notes) lines.push(`  note: ${note}`);
  const missed = checks.filter((c) => c.met === false).length;
  lines.push(passed(checks) ? '  ALL MET' : `  NOT MET: ${missed} figure${missed === 1 ? '' : 's'} missed`);
  return lines.join('\n');
}
