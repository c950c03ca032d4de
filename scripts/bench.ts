import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { parseEnvironment } from '../src/config';
import { createPool } from '../src/db/pool';
import type { EncryptionKeys } from '../src/temporal/codec';
import { createTemporalClient } from '../src/temporal/connection';
import { ensureSearchAttributes } from '../src/temporal/ensure-search-attributes';
import { installRequestAttribution } from '../test/bench/attribution';
import { activityThroughput, analyze, type ScenarioFigures } from '../test/bench/figures';
import { formatBenchReport, verdict, type BenchReport } from '../test/bench/report';
import { runScenario, type ScenarioSpec } from '../test/bench/scenario';
import { runCleanups, startStandaloneInfrastructure, stopOnInterrupt, type StandaloneInfrastructure } from '../test/chaos/infrastructure';

const USAGE = `npm run bench -- [--tokens N] [--time-scale T] [--lower R,…] [--apps N] [--keep]

Measures DESIGN.md §2's claim that the worker's Cloudflare activity budget
(CLOUDFLARE_ACTIVITIES_PER_SECOND) keeps a fleet under Cloudflare's 1,200 requests / 5 min.
Starts a throwaway Postgres and Temporal dev server; per scenario a fresh Cloudflare simulator,
N service tokens (default 200) and in-process workers, then rotates every token at once and
records every Cloudflare request. Scenarios: a baseline with no budget and Cloudflare's limit not
enforced (what the fleet would send), the configuration's default budget, and each --lower budget
(none by default; each adds about as long as the default takes).

Cloudflare's window and the budget run T times faster. By default T is calibrated so that the
default's budget × T is 60% of the Cloudflare activities/s this machine managed in the baseline
(the limiter, not the CPU, must set the pace); --time-scale T fixes it. Each --lower budget runs
at the same machine pace (its T is larger). --apps adds N Access apps to the account.
Exits 1 when the default's busiest window exceeds the allowance or it met Cloudflare's 429.`;

/** Share of the baseline's Cloudflare activity throughput the throttled scenarios run at. */
const MACHINE_SHARE = 0.6;

/** Activities per second that no rotation load reaches: the baseline's "no limit". */
const UNLIMITED = 10_000;

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`--${name} must be a positive number`);
  return parsed;
}

/**
 * Generous for a budget that holds: a rotation costs about 5.3 Cloudflare activities, dispatched
 * at the budget's pace (at most 30/s on two cores). One that trips Cloudflare's limit retries
 * itself into a standstill, and its runs still going then are reported unfinished.
 */
function timeoutFor(tokens: number, activitiesPerSecond: number, timeScale: number): number {
  const paced = (tokens * 8) / Math.min(activitiesPerSecond * timeScale, 30);
  return Math.round((90 + 2 * paced) * 1000);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      tokens: { type: 'string' },
      'time-scale': { type: 'string' },
      lower: { type: 'string' },
      apps: { type: 'string' },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const tokens = Math.round(positive('tokens', values.tokens, 200));
  const givenScale = values['time-scale'] === undefined ? undefined : positive('time-scale', values['time-scale'], 1);
  const lower = (values.lower ?? '')
    .split(',')
    .filter(Boolean)
    .map((r) => positive('lower', r, 1));
  const extraApps = values.apps === undefined ? 0 : Math.round(Number(values.apps));
  if (!(extraApps >= 0)) throw new Error('--apps must be a number ≥ 0');
  const defaultBudget = parseEnvironment({}).CLOUDFLARE_ACTIVITIES_PER_SECOND;
  const baselineSpec: ScenarioSpec = { name: 'baseline', activitiesPerSecond: UNLIMITED, enforceLimit: false };
  const throttled: ScenarioSpec[] = [
    { name: 'default', activitiesPerSecond: defaultBudget, enforceLimit: true },
    ...lower.map((rate) => ({ name: `budget ${rate}/s`, activitiesPerSecond: rate, enforceLimit: true })),
  ];

  const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  const began = Date.now();
  // Before any Cloudflare client exists: the SDK takes the global fetch at construction.
  const attribution = installRequestAttribution();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'token-warden-bench-'));
  // The workers' own warnings (activities retried after a 429, …) go to a file, not the terminal.
  const workerLog = path.join(workDir, 'workers.log');
  Runtime.install({
    logger: new DefaultLogger('WARN', (entry) => appendFileSync(workerLog, `${new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()} ${entry.level} ${entry.message} ${JSON.stringify(entry.meta ?? {})}\n`)),
    // The SDK core's own log lines (activities timed out under 429s, …) go the same way.
    telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} } },
  });
  let infrastructure: StandaloneInfrastructure | undefined;
  stopOnInterrupt(() => infrastructure, log);
  const cleanups: Array<() => Promise<void>> = [];
  try {
    infrastructure = await startStandaloneInfrastructure({ temporalCliPath: process.env.TEMPORAL_CLI_PATH, log });
    const connection = await Connection.connect({ address: infrastructure.temporalAddress });
    cleanups.push(() => connection.close());
    await ensureSearchAttributes(connection, 'default');
    const keys: EncryptionKeys = { currentKeyId: 'bench', keys: new Map([['bench', randomBytes(32)]]) };
    const client = createTemporalClient(connection, 'default', keys);
    const pool = createPool(infrastructure.databaseUrl);
    cleanups.push(() => pool.end());
    const context = { temporalAddress: infrastructure.temporalAddress, client, pool, keys, workDir, attribution, log };

    const load: Record<string, number> = {};
    const run = (spec: ScenarioSpec, timeScale: number) => {
      load[spec.name] = os.loadavg()[0] ?? 0;
      return runScenario(context, spec, { tokens, timeScale, extraApps, timeoutMs: timeoutFor(tokens, spec.activitiesPerSecond, timeScale) });
    };
    // The baseline has no budget and Cloudflare's limit is off: its time scale only matters
    // for how its requests are seen afterwards (through the default's window).
    const baseline = await run(baselineSpec, 1);
    const baselineRate = activityThroughput(baseline);
    const machineRate = givenScale !== undefined ? givenScale * defaultBudget : MACHINE_SHARE * baselineRate;
    const scaleFor = (budget: number) => Math.max(1, machineRate / budget);
    log(`baseline: ${baselineRate.toFixed(1)} Cloudflare activities/s; throttled scenarios at ${machineRate.toFixed(1)}/s (time scale ${scaleFor(defaultBudget).toFixed(1)} for the default)`);
    const figures: ScenarioFigures[] = [];
    for (const spec of throttled) figures.push(analyze(await run(spec, scaleFor(spec.activitiesPerSecond)), scaleFor(spec.activitiesPerSecond)));
    figures.unshift(analyze(baseline, scaleFor(defaultBudget)));

    const report: BenchReport = {
      tokens,
      defaultActivitiesPerSecond: defaultBudget,
      scenarios: figures,
      calibration: { baselineActivitiesPerSecond: baselineRate, machineActivitiesPerSecond: machineRate, given: givenScale !== undefined },
      load,
      cores: os.cpus().length,
      durationMs: Date.now() - began,
    };
    process.stdout.write(`${formatBenchReport(report)}\n`);
    return verdict(report).met ? 0 : 1;
  } finally {
    await runCleanups(cleanups, log);
    await infrastructure?.stop();
    if (values.keep) log(`work directory kept: ${workDir} (workers.log: the workers' warnings)`);
    else rmSync(workDir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
