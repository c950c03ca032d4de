import { appendFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { parseEnvironment } from '../src/config';
import { PROJECT_ROOT, WORKFLOW_BUNDLE_PATH } from '../src/paths';
import { timeScaleFor } from '../test/bench/figures';
import { startFloorWorker } from '../test/bench/floor';
import { measureMachineRate, measureOperations, runFleet, runOutside } from '../test/bench/phases';
import { benchChecks, formatBenchReport, type BenchReport } from '../test/bench/report';
import { startBenchStack, type BenchStack, type StackOptions } from '../test/bench/stack';
import { passed } from '../test/bench/figures';
import { runSpeed, SPEED_PARTS, SPEED_STACK, speedTokenCount, type SpeedPart } from '../test/bench/speed/phase';
import {
  startStandaloneInfrastructure,
  stopOnInterrupt,
  type StandaloneInfrastructure,
} from '../test/chaos/infrastructure';

const USAGE = `npm run bench -- [--quick] [--phase ops|fleet|outside|speed] [--only p3,p4,p5] [--tokens N]
                 [--api-tokens N] [--outside-tokens N] [--time-scale T] [--revokes N] [--pollers N]
                 [--no-headers-run] [--samples N] [--history-rows N] [--keep] [--from-dist]

Measures issue 10's "Done when" figures of the Cloudflare request budget on a throwaway Postgres,
Temporal dev server and Cloudflare simulator, with the production worker (src/worker.ts, two
processes, default configuration) and API (src/api/server.ts) processes:

  ops      requests per operation, each alone: a rotate-secret and a replace rotation, a health
           check of every API token, an emergency revoke; measured against the minimum
  fleet    N service tokens (default 2000) rotated by rotateAllServiceTokens while checkTokenHealth
           checks the API tokens (default 200), 10 clients poll GET /tokens/status and emergency
           revokes come in, each beside a bare signalWithStart floor: 429s, the busiest window,
           wall time against the budget's rate, rotation outcomes, revoke latency
  outside  a smaller fleet (default 300) while an outside client spends 30 % of Cloudflare's
           allowance on the same user; then again without rate-limit headers (--no-headers-run: skip)
  speed    issue 13's P3–P5 on an idle stack of their own (one worker process, the API), each
           sample beside its floor in the same run, interleaved; --only p3,p4,p5 runs some alone:
           p3  a rotate-secret rotation (file store only, no probe, 1 ms wait) start → result minus
               its timers (history: TimerStarted → TimerFired) ≤ 1.5 × a bare workflow of 6 no-op
               activities; p50 and p90; --samples N of each (default 20)
           p4  POST /service-tokens/:name/revoke → Cloudflare's rotate at the simulator ≤ 1.5 × a
               bare signalWithStart + one activity with one HTTP call; p50 and p90; --samples N
           p5  /health and /tokens/status requests/s ≥ 50 % of a bare Fastify route's (same load
               loop: 16 keep-alive fetch loops, rounds of 2 s interleaved); then --history-rows N
               (default 1,000,000) health checks and rotations seeded by SQL: /tokens/history and
               /rotations p99 ≤ 10 × the bare route's

Without --phase: all four (ops and fleet on one stack; speed adds about 5 minutes); --only alone:
speed. Cloudflare's window and the budget's run T × faster; without --time-scale T is calibrated
first (rotations at once, unthrottled, then T so the budget asks for half of what this machine
managed; speed runs at T = 1 and needs no calibration). --quick: 200 tokens, 20 API tokens,
200 outside tokens (headers on only), 5 revokes, 5 speed samples, 100,000 history rows. --keep keeps the work directory (inventories,
stores, worker and API logs). --from-dist runs the worker and API from dist/ with NODE_ENV=production,
as the image does (\`npm run build\` first). The fleet notes each worker's peak resident memory beside
the Kubernetes manifest's limit. Exits 1 when a figure is missed, 2 when the bench itself fails.`;

/** Share of the machine's unthrottled request rate the budget may ask for at the calibrated T. */
const MACHINE_SHARE = 0.5;
/** Share of Cloudflare's allowance the outside client spends. */
const OUTSIDE_SHARE = 0.3;

function positive(name: string, value: string | undefined, fallback: number, integer = true): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0 || (integer && !Number.isInteger(parsed)))
    throw new Error(`--${name} must be a positive ${integer ? 'integer' : 'number'}`);
  return parsed;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      phase: { type: 'string' },
      tokens: { type: 'string' },
      'api-tokens': { type: 'string' },
      'outside-tokens': { type: 'string' },
      'time-scale': { type: 'string' },
      revokes: { type: 'string' },
      pollers: { type: 'string' },
      'no-headers-run': { type: 'boolean', default: false },
      only: { type: 'string' },
      samples: { type: 'string' },
      'history-rows': { type: 'string' },
      keep: { type: 'boolean', default: false },
      'from-dist': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const quick = values.quick;
  const phase = values.phase;
  const built = [path.join(PROJECT_ROOT, 'dist', 'src', 'worker.js'), WORKFLOW_BUNDLE_PATH];
  if (values['from-dist'] && !built.every((file) => existsSync(file)))
    throw new Error(`--from-dist runs the build: ${built.join(' and ')} must exist (npm run build)`);
  if (phase !== undefined && !['ops', 'fleet', 'outside', 'speed'].includes(phase))
    throw new Error('--phase must be ops, fleet, outside or speed');
  const only = (values.only ?? SPEED_PARTS.join(',')).split(',').map((p) => p.trim().toLowerCase());
  if (only.some((p) => !(SPEED_PARTS as readonly string[]).includes(p)))
    throw new Error('--only must be a comma list of p3, p4, p5');
  if (values.only !== undefined && phase !== undefined && phase !== 'speed')
    throw new Error('--only belongs to --phase speed');
  const speedParts = new Set(only as SpeedPart[]);
  const runs = (p: string) => (phase === undefined ? values.only === undefined || p === 'speed' : phase === p);
  const samples = positive('samples', values.samples, quick ? 5 : 20);
  const historyRows = positive('history-rows', values['history-rows'], quick ? 100_000 : 1_000_000);
  const tokens = positive('tokens', values.tokens, quick ? 200 : 2000);
  const apiTokens = values['api-tokens'] === '0' ? 0 : positive('api-tokens', values['api-tokens'], quick ? 20 : 200);
  const outsideTokens = positive('outside-tokens', values['outside-tokens'], quick ? 200 : 300);
  const revokes = positive('revokes', values.revokes, quick ? 5 : 10);
  const pollers = positive('pollers', values.pollers, 10);
  const givenScale =
    values['time-scale'] === undefined ? undefined : positive('time-scale', values['time-scale'], 1, false);
  // The default configuration, as the workers will parse it (nothing set).
  const budgetPer5Min = parseEnvironment({}).CLOUDFLARE_REQUESTS_PER_5_MIN;

  const log = (line: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`);
  const began = Date.now();
  const loadBefore = os.loadavg();
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'token-warden-bench-'));
  // The floor worker's and the SDK core's own log lines go to a file, not the terminal.
  const runtimeLog = path.join(workDir, 'bench-temporal.log');
  Runtime.install({
    logger: new DefaultLogger('WARN', (entry) =>
      appendFileSync(
        runtimeLog,
        `${new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString()} ${entry.level} ${entry.message} ${JSON.stringify(entry.meta ?? {})}\n`,
      ),
    ),
    telemetryOptions: { logging: { filter: { core: 'WARN', other: 'ERROR' }, forward: {} } },
  });
  let infrastructure: StandaloneInfrastructure | undefined;
  stopOnInterrupt(() => infrastructure, log);
  const report: BenchReport = {
    cores: os.cpus().length,
    loadBefore,
    durationMs: 0,
    budgetPer5Min,
    timeScale: { value: givenScale ?? 1, given: givenScale !== undefined },
    notes: [],
  };
  let bad = false;
  try {
    infrastructure = await startStandaloneInfrastructure({ temporalCliPath: process.env.TEMPORAL_CLI_PATH, log });
    const infra = infrastructure;
    const stackOptions = (
      name: string,
      timeScale: number,
      world: StackOptions['world'],
      extra: Partial<StackOptions> = {},
    ): StackOptions => ({
      name,
      temporalAddress: infra.temporalAddress,
      databaseUrl: infra.databaseUrl,
      workDir,
      timeScale,
      world,
      workers: 2,
      fromDist: values['from-dist'],
      enforceLimit: true,
      log,
      ...extra,
    });
    const worldOf = (count: number, api: number, timeScale: number, seed: number): StackOptions['world'] => ({
      tokens: count,
      apiTokens: api,
      apps: 20,
      policies: 40,
      cloudflareStoreEvery: 10,
      // DESIGN's default wait (30 s), time-scaled like everything else, and at most 3 s: with no
      // consumer in the bench, a replace's wait then reads last_seen_at once (a quarter of the wait
      // in, at least 1 s; the next read would come 2 s later), the one read its minimum counts. A
      // longer wait reads again while no consumer shows up (wait.ts).
      propagationWait: `${Math.min(3, Math.max(1, Math.round(30 / timeScale)))}s`,
      overlap: '1h',
      seed,
    });
    const withStack = async <T>(options: StackOptions, work: (stack: BenchStack) => Promise<T>): Promise<T> => {
      const stack = await startBenchStack(options);
      try {
        return await work(stack);
      } finally {
        await stack.close();
      }
    };

    // ---- Time scale: the budget, not the CPU, must set the pace ---------------------------------
    let timeScale = givenScale;
    if (timeScale === undefined && (runs('ops') || runs('fleet') || runs('outside'))) {
      const calibrationTokens = Math.min(tokens, quick ? 60 : 150);
      const machine = await withStack(
        stackOptions('calibration', 1, worldOf(calibrationTokens, 0, 10, 7), {
          enforceLimit: false,
          workerEnv: { CLOUDFLARE_REQUESTS_PER_5_MIN: '100000000' },
        }),
        (stack) => measureMachineRate(stack, log),
      );
      timeScale = timeScaleFor(machine.requestsPerSecond, budgetPer5Min, MACHINE_SHARE);
      report.timeScale = {
        value: timeScale,
        given: false,
        machineRequestsPerSecond: machine.requestsPerSecond,
        share: MACHINE_SHARE,
        calibrationTokens,
      };
      log(`time scale ${timeScale}: the budget asks for ${((budgetPer5Min / 300) * timeScale).toFixed(1)} requests/s`);
    }
    const T = timeScale ?? 1;

    // ---- Requests per operation, then the fleet, on one stack ---------------------------------
    if (runs('ops') || runs('fleet')) {
      await withStack(
        stackOptions('fleet', T, worldOf(tokens, apiTokens, T, 1), { api: { pollers } }),
        async (stack) => {
          if (runs('ops')) report.operations = await measureOperations(stack, log);
          if (!runs('fleet')) return;
          const floor = await startFloorWorker({
            address: infra.temporalAddress,
            client: stack.client,
            keys: stack.keys,
            baseURL: stack.sim.baseURL,
            accountId: stack.world.accountId,
            requests: stack.requests,
          });
          const pollIntervalMs = 1_000;
          const fleet = await runFleet(stack, {
            timeScale: T,
            budgetPer5Min,
            revokes,
            pollIntervalMs,
            floor,
            log,
          }).finally(() => floor.shutdown());
          const strategies: Record<string, number> = {};
          for (const t of stack.world.tokens) strategies[t.strategy] = (strategies[t.strategy] ?? 0) + 1;
          const targets = stack.world.chaos.tokens;
          report.fleet = {
            tokens: stack.world.tokens.length,
            strategies,
            apiTokens: stack.world.apiTokenNames.length,
            apps: stack.world.apps,
            policies: stack.world.policies,
            cloudflareTargets: {
              workersSecret: targets.filter((t) => t.workersSecret).length,
              secretsStore: targets.filter((t) => t.secretsStore).length,
            },
            workers: stack.workers.length,
            pollIntervalMs,
            ...fleet,
          };
          const crashed = stack.workers.filter((w) => w.unexpectedExits.length);
          if (crashed.length)
            report.notes.push(
              `${crashed.length} worker process(es) exited on their own during the fleet phase; see ${stack.logsDir}`,
            );
        },
      );
    }

    // ---- An outside client on the same user ----------------------------------------------------
    if (runs('outside')) {
      report.outside = await withStack(stackOptions('outside', T, worldOf(outsideTokens, 0, T, 2)), async (stack) => {
        const sections = [];
        for (const headers of values['no-headers-run'] || quick ? [true] : [true, false]) {
          const run = await runOutside(stack, { timeScale: T, share: OUTSIDE_SHARE, headers, budgetPer5Min, log });
          sections.push({ tokens: stack.world.tokens.length, ...run });
        }
        return sections;
      });
    }

    // ---- Issue 13's speed goals, on an idle stack of their own ------------------------------------
    if (runs('speed')) {
      const world = { ...worldOf(speedTokenCount(samples), 1, 1, 3), plain: true, propagationWait: '1ms' };
      report.speed = await withStack(stackOptions('speed', 1, world, SPEED_STACK), (stack) =>
        runSpeed(stack, { parts: speedParts, samples, historyRows, temporalAddress: infra.temporalAddress, log }),
      );
    }
  } catch (error) {
    bad = true;
    throw error;
  } finally {
    await infrastructure?.stop();
    report.durationMs = Date.now() - began;
    if (!bad) process.stdout.write(`${formatBenchReport(report)}\n`);
    if (values.keep || bad)
      log(`work directory kept: ${workDir} (logs/ of each stack: worker and API logs; bench-temporal.log)`);
    else rmSync(workDir, { recursive: true, force: true });
  }
  return passed(benchChecks(report)) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
