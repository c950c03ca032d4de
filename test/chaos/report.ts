import type { ChaosReport } from './engine';
import { OWN_TOKEN } from './api-token-world';
import type { Outage, Service } from './outages';

const n = (value: number) => value.toLocaleString('en-US');
const seconds = (ms: number) =>
  ms >= 60_000 ? `${Math.floor(ms / 60_000)} min ${Math.round((ms % 60_000) / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
const percent = (part: number, whole: number) => (whole ? `${((100 * part) / whole).toFixed(1)}%` : '0%');

/** Failure messages grouped: ids and fingerprints vary, the reason does not. */
function groupReasons(reasons: string[]): string[] {
  const counts = new Map<string, number>();
  for (const reason of reasons) {
    const key = reason
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/gi, '<id>')
      .replace(/chaos-\d+/g, '<token>')
      .replace(/\/[^\s:]+/g, '<path>')
      .slice(0, 240);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([reason, count]) => `${count} × ${reason}`);
}

/** "2 of 2 planned: SIGTERM, down 4.1 s; SIGKILL, down 6.0 s". */
function restarts(outages: Outage[], service: Service, planned: number): string {
  const done = outages.filter((o) => o.service === service);
  const each = done.map((o) => `${o.how}, down ${o.to === null ? 'still' : seconds(o.to - o.from)}`);
  return `${done.length} of ${planned} planned${each.length ? `: ${each.join('; ')}` : ''}`;
}

/** The figures of a chaos run, for a terminal. */
export function formatChaosReport(report: ChaosReport): string {
  const lines: string[] = [];
  const out = (label: string, text: string) => lines.push(`  ${label.padEnd(18)}${text}`);
  const { options, runs, faults, workers, infrastructure, consumer, checks } = report;
  const chaos = runs.filter((r) => r.trigger !== 'settle');
  const settle = runs.filter((r) => r.trigger === 'settle');
  const count = (list: typeof runs, outcome: string) => list.filter((r) => r.outcome === outcome).length;
  const own = runs.filter((r) => r.workflowId === `rotate-api-token/user/${OWN_TOKEN}`);
  const strategies = report.checks.tokens.reduce<Record<string, number>>(
    (acc, t) => ({ ...acc, [t.strategy]: (acc[t.strategy] ?? 0) + 1 }),
    {},
  );

  lines.push(
    `token-warden chaos run: seed ${options.seed}, ${n(options.rotations)} rotations over ${options.tokens} service tokens and ${options.apiTokens} API tokens${options.apiTokens ? ` and token-warden's own` : ''} (${Object.entries(
      strategies,
    )
      .map(([s, c]) => `${c} ${s}`)
      .join(', ')}), ${options.concurrency} at a time, overlap ${options.overlap}`,
  );
  out('duration', `${seconds(report.durationMs)} (chaos phase ${seconds(report.chaosPhaseMs)})`);
  out(
    'rotations',
    `${n(report.started)} started: ${count(chaos, 'completed')} completed, ${count(chaos, 'compensated')} compensated, ${count(chaos, 'failed')} failed, ${count(chaos, 'stuck')} stuck`,
  );
  out(
    '',
    `by trigger: ${chaos.filter((r) => r.trigger === 'rotate').length} rotate, ${chaos.filter((r) => r.trigger === 'revoke').length} emergency revoke (+ revokes of running rotations: ${report.emergencyWindows.length - chaos.filter((r) => r.trigger === 'revoke').length})`,
  );
  out(
    '',
    `by kind: ${runs.filter((r) => !r.workflowId.startsWith('rotate-api-token/')).length} service-token runs, ${runs.filter((r) => r.workflowId.startsWith('rotate-api-token/')).length} API-token runs, of them ${own.length} of token-warden's own token (${count(own, 'completed')} completed, ${own.filter((r) => r.emergency).length} emergencies)`,
  );
  out(
    '',
    `lost rotate answers finished blue/green: ${runs.filter((r) => r.recoveredLostSecret).length}; emergencies completed: ${runs.filter((r) => r.emergency).length}`,
  );
  for (const line of groupReasons(
    runs
      .filter((r) => r.outcome === 'compensated')
      .map((r) => `${r.reason ?? ''} [undid: ${(r.compensated ?? []).join(', ') || 'nothing'}]`),
  ))
    out('', `compensated: ${line}`);
  for (const line of groupReasons(
    runs
      .filter((r) => r.outcome === 'failed')
      .map(
        (r) =>
          `${r.failureType}: ${r.reason ?? ''} [undid: ${(r.compensated ?? []).join(', ') || 'nothing'}; kept valid: ${(r.keptValid ?? []).join(', ') || 'nothing'}; failed: ${(r.failedCompensations ?? []).join(', ') || 'nothing'}]`,
      ),
  ))
    out('', `failed: ${line}`);
  out(
    'settle',
    settle.length
      ? `${settle.length} more rotations after the chaos: ${count(settle, 'completed')} completed, ${count(settle, 'compensated')} compensated, ${count(settle, 'failed')} failed`
      : 'nothing to settle',
  );
  if (infrastructure.planned.temporal + infrastructure.planned.postgres === 0) {
    out('infrastructure', 'no restarts of Temporal or Postgres');
  } else {
    out(
      'infrastructure',
      `Temporal restarts: ${restarts(infrastructure.outages, 'temporal', infrastructure.planned.temporal)}`,
    );
    out('', `Postgres restarts: ${restarts(infrastructure.outages, 'postgres', infrastructure.planned.postgres)}`);
    out(
      '',
      `runs started by a request whose answer an outage lost (found by its retry, or among Temporal's runs at the end): ${infrastructure.answersLost}`,
    );
  }
  for (const [i, w] of workers.entries()) {
    out(
      i === 0 ? 'workers' : '',
      `${w.name}: ${w.starts} starts, ${w.kills} SIGKILLs (${w.startupKills} during start-up, ${w.aimedKills} between Cloudflare's answer and the staging write, ${w.aimedMissed} aimed but no issue came), ${w.exitsInOutages + w.crashes} exits of its own (${w.exitsInOutages} the orderly way in outages, ${w.crashes} crashes)`,
    );
  }
  for (const e of report.workerExits) {
    out(
      '',
      `exit: ${e.worker} at ${new Date(e.at).toISOString().slice(11, 19)} (${e.signal ?? `code ${e.code}`}) ${e.outage ? `in ${e.outage}` : 'WITH EVERY SERVER UP'}${e.orderly ? '' : ', NOT THE ORDERLY WAY'}: ${e.lastWords || 'said nothing'}`,
    );
  }
  out(
    'Cloudflare',
    `${n(faults.requests)} API requests, ${n(faults.failed)} failed or dropped (${percent(faults.failed, faults.requests)}): 5xx ${n(faults.status5xx)}, 429 ${n(faults.status429)} (injected ${n(faults.fired['429'] ?? 0)}, the rest the rate limit), dropped after applying ${n(faults.dropped)}`,
  );
  out(
    '',
    `apply-then-drop: ${Object.entries(faults.fired)
      .filter(([id]) => id.startsWith('drop: '))
      .map(([id, fired]) => `${id.slice(6)} ${fired}`)
      .join(', ')}`,
  );
  out(
    '',
    `latency storms (reads past the SDK timeout): ${faults.latencyStorms}; rate-limit squeezes (one window of the limiter allowing a fraction of its requests): ${faults.rateLimitSqueezes}`,
  );
  out(
    'store outages',
    `${faults.storeOutages} (longest ${seconds(faults.longestStoreOutageMs)}, ${seconds(faults.storeBrokenMs)} in all)`,
  );
  out(
    'consumer',
    `${n(consumer.probes)} probes, ${n(consumer.accepted)} accepted, ${n(consumer.staleReads)} stale reads, ${n(consumer.probeErrors)} unreachable; failures: ${checks.consumerFailures} (${checks.excusedFailures} inside emergency windows, ${checks.consumerFailures - checks.excusedFailures} outside)`,
  );
  out('tokens', 'name          strategy             tokens  live credentials  stores agreeing  leftover pending');
  for (const t of checks.tokens)
    out(
      '',
      `${t.name.padEnd(14)}${t.strategy.padEnd(21)}${String(t.tokens).padEnd(8)}${String(t.liveCredentials).padEnd(18)}${`${t.storesAgreeing}/${t.stores}`.padEnd(17)}${t.pendingLeftovers}`,
    );
  out(
    'history',
    `${checks.history.temporalRuns} Temporal runs, ${checks.history.rows} rotation rows, ${checks.history.stepRows} step rows, ${checks.history.auditRows} audit rows`,
  );
  out(
    'plaintext',
    `${n(report.secretScan.secrets)} secrets looked for in ${n(report.secretScan.places)} places (worker and consumer logs, history and audit rows, every run's raw Temporal history)`,
  );
  out('logs', [...report.logs.workers, report.logs.consumer].join(', '));
  if (report.violations.length) {
    out('RESULT', `FAIL: ${report.violations.length} violations`);
    for (const v of report.violations) lines.push(`    - ${v}`);
  } else {
    out('RESULT', 'PASS: no violations');
  }
  return lines.join('\n');
}
