import { percentile, type Check } from '../figures';
import { floorRatioCheck, perSecond, SPEED_BOUNDS, throughputCheck, tailCheck, type LoadRound } from './figures';
import type { ApiSpeed } from './api';
import type { RevokeSpeed, RotationSpeed } from './rotation';

export interface SpeedSection {
  rotations?: RotationSpeed;
  revokes?: RevokeSpeed;
  api?: ApiSpeed;
}

/** P3–P5, in the order they print. */
export function speedChecks(speed: SpeedSection): Check[] {
  const checks: Check[] = [];
  if (speed.rotations)
    checks.push(
      floorRatioCheck(
        'P3 rotate-secret rotation beyond its wait vs a bare 6-activity workflow',
        speed.rotations.samples.map((s) => s.ms),
        speed.rotations.floors,
        SPEED_BOUNDS.rotationOverFloorMax,
      ),
    );
  if (speed.revokes)
    checks.push(
      floorRatioCheck(
        'P4 idle revoke → Cloudflare rotate vs bare signalWithStart + one call',
        speed.revokes.revokes,
        speed.revokes.floors,
        SPEED_BOUNDS.revokeOverFloorMax,
      ),
    );
  const api = speed.api;
  if (api) {
    for (const route of ['/health', '/tokens/status'])
      checks.push(
        throughputCheck(`P5 ${route} throughput`, api.routes[route] ?? [], api.bare, SPEED_BOUNDS.throughputShareMin),
      );
    for (const route of ['/tokens/history', '/rotations'])
      checks.push(
        tailCheck(
          `P5 ${route} p99, ${api.historyRows.toLocaleString('en')} rows`,
          api.routes[route] ?? [],
          api.bareBesideHistory,
          SPEED_BOUNDS.historyP99OverBareMax,
        ),
      );
  }
  return checks;
}

const ms = (v: number | null) => (v === null ? '–' : `${Math.round(v)} ms`);
const rounds = (label: string, list: readonly LoadRound[]) => {
  const all = list.flatMap((r) => r.latencies);
  return `${label}: ${list.map((r) => perSecond(r).toFixed(0)).join(', ')} /s; p50 ${ms(percentile(all, 50))}, p99 ${ms(percentile(all, 99))} (${all.length} answers)`;
};

/** The speed section's lines before the verdict. */
export function formatSpeed(speed: SpeedSection): string[] {
  const lines = ['Speed (issue 13, P3–P5), each sample beside its floor, interleaved'];
  if (speed.rotations) {
    lines.push('  P3 rotations (start → result, ms; time in timers; net):');
    speed.rotations.samples.forEach((s, i) =>
      lines.push(
        `    ${s.token}: ${s.totalMs} − ${s.timerMs} = ${s.ms ?? 'failed'}${s.problem ? ` (${s.problem})` : ''}; floor ${speed.rotations!.floors[i] ?? '–'}`,
      ),
    );
  }
  if (speed.revokes) {
    lines.push(
      `  P4 revokes → rotate (ms): ${speed.revokes.revokes.map((v) => v ?? 'never').join(', ')}; floors ${speed.revokes.floors.map((v) => v ?? 'missing').join(', ')}`,
    );
    for (const note of speed.revokes.notes) lines.push(`  note: ${note}`);
  }
  const api = speed.api;
  if (api) {
    lines.push(
      `  P5 load: ${api.concurrency} keep-alive loops in the bench process, ${api.roundMs} ms rounds (requests/s per round)`,
    );
    lines.push(`    ${rounds('bare Fastify route', api.bare)}`);
    for (const route of ['/health', '/tokens/status']) lines.push(`    ${rounds(route, api.routes[route] ?? [])}`);
    lines.push(
      `    ${api.historyRows.toLocaleString('en')} health checks and rotations seeded in ${(api.seedMs / 1000).toFixed(1)} s`,
    );
    lines.push(`    ${rounds('bare Fastify route', api.bareBesideHistory)}`);
    for (const route of ['/tokens/history', '/rotations']) lines.push(`    ${rounds(route, api.routes[route] ?? [])}`);
  }
  lines.push('');
  return lines;
}
