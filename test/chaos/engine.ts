import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure, Connection, WorkflowFailedError, type Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import type { Pool } from 'pg';
import { z } from 'zod';
import { buildApp } from '../../src/api/app';
import { startSimulator, type RunningSimulator } from '../../src/cloudflare/simulator';
import { createHistoryRepository } from '../../src/db/history-repository';
import { createMetricsQueries } from '../../src/db/metrics-queries';
import { createPool } from '../../src/db/pool';
import { createRotationRepository } from '../../src/db/rotation-repository';
import { createPendingSecretStore } from '../../src/secrets/pending-secrets';
import { createSecretBox } from '../../src/secrets/secret-box';
import { AesGcmPayloadCodec, type EncryptionKeys } from '../../src/temporal/codec';
import { createTemporalClient } from '../../src/temporal/connection';
import { ensureSearchAttributes } from '../../src/temporal/ensure-search-attributes';
import { SCHEDULES } from '../../src/schedules';
import { cloudflareTaskQueue } from '../../src/workflows/triggers';
import type { rotateServiceToken } from '../../src/workflows/rotate-service-token';
import { runFinalChecks, scanForPlaintextSecrets, type ConsumerFailure, type EmergencyWindow, type FinalChecks, type RunRecord } from './checks';
import { consumerEventSchema, type ConsumerConfig, type ConsumerEvent } from './consumer-protocol';
import { cloudflareFaultRules, faultFigures, latencyStormRule, type FaultFigures } from './faults';
import { RestartableChild } from '../support/processes';
import { runCleanups } from './infrastructure';
import { ChaosRandom, sleep } from './random';
import { adoptCredentials, buildChaosWorld, readFileCredential, type ChaosWorld } from './world';

export interface ChaosOptions {
  /** Rotation runs to start in the chaos phase (rotate and revoke requests through the API). */
  rotations: number;
  /** Managed service tokens, half `rotate-secret`, half `replace`. */
  tokens: number;
  /** Rotations running at once (at most one per token). */
  concurrency: number;
  temporalAddress: string;
  /** A migrated database of the run's own. */
  databaseUrl: string;
  /** Stores, inventory and process logs go here. */
  workDir: string;
  seed: number;
  /** Share of Cloudflare API requests answered 5xx/429 (apply-then-drop comes on top, on mutations). */
  faultRate: number;
  /** SIGKILLs of the worker: after an uptime in [min, max]; some during start-up, some aimed between Cloudflare's answer and the staging write. */
  kills: false | { minUptimeMs: number; maxUptimeMs: number; startupShare: number; aimedShare: number; maxKills: number };
  /** The flaky file-store directory breaks after a gap in [minGapMs, maxGapMs], for short or long outages. */
  storeOutages: false | { minGapMs: number; maxGapMs: number; shortMs: [number, number]; longMs: [number, number]; longShare: number };
  /** Reads hanging past the SDK timeout, for a moment every so often. */
  latencyStorms: false | { everyMs: [number, number]; lastMs: [number, number] };
  /** Every so often, one rate-limit window in which Cloudflare allows only `limit` requests. */
  rateLimitSqueezes: false | { everyMs: [number, number]; limit: number };
  /** Share of starts that are emergency revokes; share of starts that also revoke a running rotation. */
  emergencyShare: number;
  runningRevokeShare: number;
  overlap: string;
  propagationWait: string;
  /**
   * Cloudflare's rate limit (1,200 requests per 5 minutes per token) and the worker's Cloudflare
   * activity budget (token-warden's default, 3 a second) both run this many times faster.
   */
  cloudflareSpeedup: number;
  /** No new rotation starts after this (counted from the start of the chaos phase). */
  chaosPhaseMs: number;
  /** How long the chaos goes on after the last start, for the runs still going. */
  chaosTailMs: number;
  /** How long runs still going at the end of the chaos phase, and the settle rotations, may take. */
  settleMs: number;
  consumerIntervalMs: number;
  /** The schedules src/worker.ts upserts are deleted at the end (for a shared Temporal server). */
  deleteSchedules: boolean;
  log: (line: string) => void;
}

export function chaosOptions(overrides: Partial<ChaosOptions> & Pick<ChaosOptions, 'temporalAddress' | 'databaseUrl' | 'workDir'>): ChaosOptions {
  return {
    rotations: 200,
    tokens: 12,
    concurrency: 12,
    seed: 1,
    faultRate: 0.2,
    kills: { minUptimeMs: 50_000, maxUptimeMs: 100_000, startupShare: 0.1, aimedShare: 0.35, maxKills: 1_000 },
    storeOutages: { minGapMs: 10_000, maxGapMs: 40_000, shortMs: [1_500, 8_000], longMs: [40_000, 80_000], longShare: 0.25 },
    latencyStorms: { everyMs: [30_000, 70_000], lastMs: [300, 1_200] },
    rateLimitSqueezes: { everyMs: [80_000, 140_000], limit: 150 },
    emergencyShare: 0.05,
    runningRevokeShare: 0.03,
    overlap: '5s',
    propagationWait: '1s',
    cloudflareSpeedup: 8,
    chaosPhaseMs: 8 * 60_000,
    chaosTailMs: 30_000,
    settleMs: 4 * 60_000,
    consumerIntervalMs: 400,
    deleteSchedules: false,
    log: () => undefined,
    ...overrides,
  };
}

export interface ChaosReport {
  options: Pick<ChaosOptions, 'rotations' | 'tokens' | 'concurrency' | 'seed' | 'faultRate' | 'overlap' | 'propagationWait'>;
  durationMs: number;
  chaosPhaseMs: number;
  runs: RunRecord[];
  started: number;
  worker: { starts: number; kills: number; startupKills: number; aimedKills: number; aimedMissed: number; crashes: number };
  faults: FaultFigures & { storeOutages: number; longestStoreOutageMs: number; storeBrokenMs: number; latencyStorms: number; rateLimitSqueezes: number };
  consumer: { probes: number; accepted: number; staleReads: number; probeErrors: number };
  /** Invariant 4: how many secrets were looked for, in how many logs, tables and histories. */
  secretScan: { secrets: number; places: number };
  emergencyWindows: EmergencyWindow[];
  checks: FinalChecks;
  violations: string[];
  logs: { worker: string; consumer: string };
}

/** What the API answers a rotate or revoke with (202). */
const startedSchema = z.object({ data: z.object({ workflow_id: z.string(), run_id: z.string() }) });
/** The outcome a failed run carries in its failure details. */
const failureDetailsSchema = z.looseObject({
  compensated: z.array(z.string()).default([]),
  keptValid: z.array(z.string()).default([]),
  failedCompensations: z.array(z.looseObject({ name: z.string() })).default([]),
});

const ISSUE_OPERATIONS = ['access-service-tokens-rotate-a-service-token', 'access-service-tokens-create-a-service-token'];

/**
 * The chaos suite (issue 5, item 8): rotations through the real API while the simulator injects
 * faults, the worker process is SIGKILLed and restarted, a file-store directory breaks, and a
 * consumer process keeps authenticating with what the stores hold. Then calm returns, unfinished
 * tokens are rotated once more, and every invariant of DESIGN.md §5 that can be observed is
 * checked. Returns the figures and the list of violations (empty when the run passes).
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const began = Date.now();
  const random = new ChaosRandom(options.seed);
  const log = options.log;
  mkdirSync(options.workDir, { recursive: true, mode: 0o700 });
  const cleanups: Array<() => Promise<void>> = [];
  const violations: string[] = [];

  try {
    // ---- The world: simulator, tokens, stores, inventory, database, Temporal, API -------------
    const sim = await startSimulator({ port: 0, seed: 'demo', faultSeed: options.seed, timeScale: options.cloudflareSpeedup });
    cleanups.push(() => sim.close());
    const { world, initial } = buildChaosWorld(sim, { count: options.tokens, dir: options.workDir, overlap: options.overlap, propagationWait: options.propagationWait });
    cleanups.push(async () => world.flaky.repair());

    const key = randomBytes(32);
    const keys: EncryptionKeys = { currentKeyId: 'chaos', keys: new Map([['chaos', key]]) };
    const pool = createPool(options.databaseUrl);
    cleanups.push(() => pool.end());
    // A backend whose worker was SIGKILLed mid-statement gives up instead of finishing it later.
    await pool.query(`ALTER DATABASE "${new URL(options.databaseUrl).pathname.slice(1)}" SET client_connection_check_interval = 250`);
    await installStagingGate(pool);
    const pending = createPendingSecretStore(pool, createSecretBox(keys));
    // Every secret the run sees, to look for in places it must never be (invariant 4).
    const secrets = new Set<string>([...initial.values()].map((c) => c.clientSecret));
    await adoptCredentials(world, initial, pending);
    initial.clear();

    const connection = await Connection.connect({ address: options.temporalAddress });
    cleanups.push(() => connection.close());
    await ensureSearchAttributes(connection, 'default');
    const client = createTemporalClient(connection, 'default', keys);
    const taskQueue = `tw-chaos-${randomBytes(5).toString('hex')}`;
    // Least privilege: the chaos client may read, rotate and revoke (scopes where the API has them).
    const apiClient = { name: 'chaos', token: randomBytes(24).toString('base64url'), scopes: ['read', 'rotate', 'revoke'] as const };
    const history = createHistoryRepository(pool);
    const rotations = createRotationRepository(pool);
    const app = await buildApp({
      clients: [apiClient],
      logger: false,
      temporal: client,
      taskQueue,
      history,
      inventory: world.inventory,
      rotations,
      metrics: createMetricsQueries(pool),
      codec: { codec: new AesGcmPayloadCodec(keys), uiOrigins: [], public: false },
      readiness: { temporal: async () => undefined, postgres: async () => void (await pool.query('SELECT 1')) },
    });
    cleanups.push(() => app.close());
    const auth = { authorization: `Bearer ${apiClient.token}` };
    if (options.deleteSchedules) cleanups.push(() => deleteWorkerSchedules(client));

    // ---- The worker: production entry point, configured by environment ------------------------
    const logsDir = path.join(options.workDir, 'logs');
    mkdirSync(logsDir, { recursive: true });
    const worker = new RestartableChild({
      name: 'worker',
      entry: 'src/worker.ts',
      logFile: path.join(logsDir, 'worker.log'),
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? options.workDir,
        NODE_ENV: 'development',
        LOG_LEVEL: 'info',
        DATA_DIR: path.join(options.workDir, 'data'),
        TEMPORAL_ADDRESS: options.temporalAddress,
        TEMPORAL_TASK_QUEUE: taskQueue,
        DATABASE_URL: options.databaseUrl,
        CLOUDFLARE_API_TOKEN: world.wardenToken,
        CLOUDFLARE_BASE_URL: sim.baseURL,
        // The budget's window runs as fast as the simulator's, so it keeps to the allowance Cloudflare's limiter enforces.
        CLOUDFLARE_BUDGET_WINDOW_SECONDS: String(300 / options.cloudflareSpeedup),
        TOKEN_WARDEN_INVENTORY: world.inventoryFile,
        TOKEN_WARDEN_ENCRYPTION_KEY: key.toString('base64'),
        TOKEN_WARDEN_ENCRYPTION_KEY_ID: 'chaos',
      },
    });
    const exitHandler = () => worker.killNow();
    process.once('exit', exitHandler);
    cleanups.push(async () => {
      process.removeListener('exit', exitHandler);
      await worker.close();
    });
    const startWorker = () => worker.start();
    /** Polled by this start of the worker: the SDK's identity is `<pid>@<host>`. */
    const polledBy = async (name: string, type: temporal.api.enums.v1.TaskQueueType, pid: number) => {
      const { pollers } = await connection.workflowService.describeTaskQueue({ namespace: 'default', taskQueue: { name }, taskQueueType: type });
      return (pollers ?? []).some((poller) => poller.identity?.startsWith(`${pid}@`));
    };
    const workerReady = async (timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      const { TASK_QUEUE_TYPE_WORKFLOW, TASK_QUEUE_TYPE_ACTIVITY } = temporal.api.enums.v1.TaskQueueType;
      while (worker.running() && Date.now() < deadline) {
        const pid = worker.pid;
        if (pid !== undefined && (await polledBy(taskQueue, TASK_QUEUE_TYPE_WORKFLOW, pid)) && (await polledBy(cloudflareTaskQueue(taskQueue), TASK_QUEUE_TYPE_ACTIVITY, pid))) return true;
        await sleep(250);
      }
      return false;
    };
    startWorker();
    if (!(await workerReady(120_000))) throw new Error(`the worker did not start; see ${path.join(logsDir, 'worker.log')}`);
    log(`worker up (pid ${worker.pid}); task queue ${taskQueue}`);

    // ---- The consumer: a process of its own, authenticating with what the file stores hold ----
    const failures: ConsumerFailure[] = [];
    let consumerStats = { probes: 0, accepted: 0, staleReads: 0, probeErrors: 0 };
    const consumerConfig: ConsumerConfig = {
      probeUrl: world.probeUrl,
      stores: world.tokens.flatMap((t) => t.files.map((f) => ({ token: t.name, file: f.realPath }))),
      intervalMs: options.consumerIntervalMs,
      maxRunMs: options.chaosPhaseMs + options.settleMs + 5 * 60_000,
    };
    const consumer = new RestartableChild({
      name: 'consumer',
      entry: 'test/chaos/consumer.ts',
      args: [JSON.stringify(consumerConfig)],
      logFile: path.join(logsDir, 'consumer.log'),
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? options.workDir },
      onStdoutLine: (line) => {
        let event: ConsumerEvent;
        try {
          event = consumerEventSchema.parse(JSON.parse(line));
        } catch {
          return;
        }
        if (event.type === 'failure') failures.push(event);
        else consumerStats = { probes: event.probes, accepted: event.accepted, staleReads: event.staleReads, probeErrors: event.probeErrors };
      },
    });
    const consumerExit = () => consumer.killNow();
    process.once('exit', consumerExit);
    cleanups.push(async () => {
      process.removeListener('exit', consumerExit);
      await consumer.close();
    });
    consumer.start();

    // ---- Runs: started through the API, followed through Temporal ----------------------------
    const runs: RunRecord[] = [];
    const windows: EmergencyWindow[] = [];
    const lanes = new Map<string, Promise<void>>();
    const followed = new Map<string, Promise<RunRecord>>();

    const closeWindows = (run: RunRecord) => {
      for (const w of windows) {
        if (w.token !== run.token || w.to !== null) continue;
        if (w.runId === run.runId) {
          if (run.outcome === 'completed') w.to = run.endedAt ?? Date.now();
          else w.runId = null;
        } else if (w.runId === null && run.outcome === 'completed' && run.startedAt >= w.from) {
          w.to = run.endedAt ?? Date.now();
        }
      }
    };

    function follow(run: RunRecord): Promise<RunRecord> {
      const existing = followed.get(run.runId);
      if (existing) return existing;
      runs.push(run);
      const promise = (async () => {
        try {
          const result = await client.workflow.getHandle<typeof rotateServiceToken>(run.workflowId, run.runId).result();
          Object.assign(run, { outcome: 'completed', strategy: result.strategy, recoveredLostSecret: result.recoveredLostSecret, emergency: result.emergency });
        } catch (error) {
          const cause = error instanceof WorkflowFailedError ? error.cause : error;
          const type = cause instanceof ApplicationFailure ? (cause.type ?? undefined) : undefined;
          const details = failureDetailsSchema.safeParse(cause instanceof ApplicationFailure ? cause.details?.[0] : undefined).data;
          Object.assign(run, {
            outcome: type === 'RotationCompensated' ? 'compensated' : 'failed',
            failureType: type ?? (cause instanceof Error ? cause.name : 'unknown'),
            reason: cause instanceof Error ? cause.message : String(cause),
            compensated: details?.compensated ?? [],
            keptValid: details?.keptValid ?? [],
            failedCompensations: (details?.failedCompensations ?? []).map((c) => c.name),
          });
        }
        run.endedAt = Date.now();
        closeWindows(run);
        return run;
      })();
      followed.set(run.runId, promise);
      const lane = Promise.all([lanes.get(run.token), promise]).then(() => undefined);
      lanes.set(run.token, lane);
      void lane.then(() => {
        if (lanes.get(run.token) === lane) lanes.delete(run.token);
      });
      return promise;
    }

    const apiErrors: string[] = [];
    async function request(token: string, action: 'rotate' | 'revoke', trigger: RunRecord['trigger']): Promise<RunRecord | undefined> {
      const at = Date.now();
      if (action === 'revoke') windows.push({ token, from: at, to: null, runId: null });
      const response = await app.inject({
        method: 'POST',
        url: `/service-tokens/${encodeURIComponent(token)}/${action}`,
        headers: auth,
        payload: { reason: action === 'revoke' ? 'chaos: credential reported leaked' : `chaos: ${trigger}` },
      });
      if (response.statusCode === 409) return undefined;
      if (response.statusCode !== 202) {
        apiErrors.push(`POST /service-tokens/${token}/${action} answered ${response.statusCode}: ${response.body.slice(0, 200)}`);
        return undefined;
      }
      const { workflow_id: workflowId, run_id: runId } = startedSchema.parse(response.json()).data;
      if (action === 'revoke') {
        const window = windows.find((w) => w.token === token && w.from === at);
        if (window) window.runId = runId;
        const signalled = runs.find((r) => r.runId === runId && r.outcome);
        if (signalled) closeWindows(signalled); // it ended before the answer came back
      }
      if (followed.has(runId)) return undefined; // a revoke that signalled a running rotation
      const run: RunRecord = { token, workflowId, runId, trigger, startedAt: at };
      void follow(run);
      return run;
    }

    // ---- Chaos agents: each a bounded loop that ends when `calm` is set ------------------------
    let calm = false;
    const calmOrSleep = async (ms: number) => {
      const until = Date.now() + ms;
      while (!calm && Date.now() < until) await sleep(Math.min(250, until - Date.now()));
    };
    const agentFigures = { startupKills: 0, aimedKills: 0, aimedMissed: 0, storms: 0, squeezes: 0 };
    const agents: Array<Promise<void>> = [];

    sim.faults.set(cloudflareFaultRules(options.faultRate));

    const kills = options.kills;
    if (kills) {
      agents.push(
        (async () => {
          while (!calm && worker.kills < kills.maxKills) {
            const mode = random.chance(kills.startupShare) ? 'startup' : random.chance(kills.aimedShare) ? 'aimed' : 'uptime';
            if (mode === 'startup') {
              await calmOrSleep(random.between(300, 3_000));
              if (calm) break;
              await worker.stop('SIGKILL');
              agentFigures.startupKills += 1;
            } else {
              await workerReady(120_000);
              await calmOrSleep(random.between(kills.minUptimeMs, kills.maxUptimeMs));
              if (calm) break;
              if (mode === 'aimed') {
                if (await killBetweenAnswerAndStaging(pool, sim, worker, () => calm)) agentFigures.aimedKills += 1;
                else agentFigures.aimedMissed += 1;
              } else {
                await worker.stop('SIGKILL');
              }
            }
            await sleep(random.between(100, 2_000));
            startWorker();
          }
        })(),
      );
    }

    const outages = options.storeOutages;
    if (outages) {
      agents.push(
        (async () => {
          while (!calm) {
            await calmOrSleep(random.between(outages.minGapMs, outages.maxGapMs));
            if (calm) break;
            const [min, max] = random.chance(outages.longShare) ? outages.longMs : outages.shortMs;
            world.flaky.break();
            await calmOrSleep(random.between(min, max));
            world.flaky.repair();
          }
        })(),
      );
    }

    const squeezes = options.rateLimitSqueezes;
    if (squeezes) {
      agents.push(
        (async () => {
          const normal = sim.faults.rateLimit();
          const windowMs = (normal.windowSeconds * 1000) / normal.timeScale;
          while (!calm) {
            await calmOrSleep(random.between(...squeezes.everyMs));
            if (calm) break;
            // A window opens with the next request; past `limit` it answers 429 with Retry-After
            // until the window ends (Cloudflare's own limiter, not an injected fault).
            sim.faults.rateLimit({ limit: squeezes.limit });
            agentFigures.squeezes += 1;
            await calmOrSleep(windowMs);
            sim.faults.rateLimit({ limit: normal.limit });
          }
          sim.faults.rateLimit({ limit: normal.limit });
        })(),
      );
    }

    // The secrets the stores receive along the way (a bounded loop: it ends with the run).
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const file of world.tokens.flatMap((t) => t.files)) {
          const credential = readFileCredential(file.realPath);
          if (credential) secrets.add(credential.clientSecret);
        }
        await sleep(1_000);
      }
    })();
    cleanups.push(async () => {
      sampling = false;
      await sampler;
    });

    const storms = options.latencyStorms;
    if (storms) {
      agents.push(
        (async () => {
          while (!calm) {
            await calmOrSleep(random.between(...storms.everyMs));
            if (calm) break;
            const id = sim.faults.add(latencyStormRule(21_000));
            agentFigures.storms += 1;
            await sleep(random.between(...storms.lastMs));
            sim.faults.remove(id);
          }
        })(),
      );
    }

    // ---- The chaos phase: N runs, `concurrency` at a time ------------------------------------
    const chaosBegan = Date.now();
    const chaosDeadline = chaosBegan + options.chaosPhaseMs;
    let started = 0;
    let lastReport = Date.now();
    while (started < options.rotations && Date.now() < chaosDeadline) {
      const idle = world.tokens.map((t) => t.name).filter((name) => !lanes.has(name));
      if (lanes.size < options.concurrency && idle.length) {
        if (lanes.size && random.chance(options.runningRevokeShare)) {
          // An emergency revoke of a token whose rotation is running (signalled, or a new run if it just ended).
          if (await request(random.pick([...lanes.keys()]), 'revoke', 'revoke')) started += 1;
        }
        const token = random.pick(idle);
        const action = random.chance(options.emergencyShare) ? 'revoke' : 'rotate';
        if (await request(token, action, action)) started += 1;
      } else {
        await Promise.race([...lanes.values(), sleep(500)]);
      }
      if (Date.now() - lastReport > 15_000) {
        lastReport = Date.now();
        const done = runs.filter((r) => r.outcome).length;
        log(`${Math.round((Date.now() - chaosBegan) / 1000)} s: ${started} started, ${done} finished, ${worker.kills} worker kills, ${failures.length} consumer failures`);
      }
    }
    if (started < options.rotations) violations.push(`only ${started} of ${options.rotations} rotations started before the chaos phase ended (${options.chaosPhaseMs} ms)`);
    // The last runs go on under the same chaos for a while, then finish in calm.
    const tailDeadline = Math.min(chaosDeadline, Date.now() + options.chaosTailMs);
    while (lanes.size && Date.now() < tailDeadline) await Promise.race([...lanes.values(), sleep(1_000)]);

    // ---- Calm: faults off, store repaired, worker up; unfinished runs finish ------------------
    const chaosPhaseMs = Date.now() - chaosBegan;
    const fired = Object.fromEntries(sim.faults.list().map((rule) => [rule.id, rule.fired]));
    calm = true;
    await Promise.all(agents);
    sim.faults.clear();
    world.flaky.repair();
    if (!worker.running()) startWorker();
    log(`chaos phase over after ${Math.round(chaosPhaseMs / 1000)} s${lanes.size ? `; waiting for ${lanes.size} running rotations` : ''}`);
    const settleDeadline = Date.now() + options.settleMs;
    const untilSettled = async () => {
      while (lanes.size && Date.now() < settleDeadline) await Promise.race([...lanes.values(), sleep(1_000)]);
    };
    await untilSettled();

    // A token whose last run did not complete, whose emergency is still open, or that Cloudflare
    // shows in more than one piece (several tokens of its name, a previous secret still alive) is
    // rotated again, as an operator (or the next schedule) would.
    const untidy = (name: string) => {
      const namesakes = sim.state.serviceTokens.list({ kind: 'account', accountId: world.accountId }).filter((t) => t.name === name);
      const now = sim.clock.now();
      return namesakes.length !== 1 || namesakes.some((t) => t.previous_client_secret_expires_at !== null && Date.parse(t.previous_client_secret_expires_at) > now);
    };
    for (let round = 1; round <= 3 && Date.now() < settleDeadline; round++) {
      const unsettled = world.tokens
        .map((t) => t.name)
        .filter((name) => {
          const last = runs.filter((r) => r.token === name).at(-1);
          return (last && last.outcome !== 'completed') || windows.some((w) => w.token === name && w.to === null) || untidy(name);
        });
      if (!unsettled.length) break;
      log(`settle round ${round}: rotating ${unsettled.join(', ')} once more`);
      for (const name of unsettled) await request(name, 'rotate', 'settle');
      await untilSettled();
    }
    for (const run of runs) if (!run.outcome) run.outcome = 'stuck';

    // Let the consumer look at the final state for a few rounds, then stop it.
    await sleep(Math.max(2_000, options.consumerIntervalMs * 8));
    await consumer.stop('SIGTERM');

    const checks = await runFinalChecks({ sim, world, pool, pending, client, taskQueue, runs, failures, windows, graceMs: 1_500 });
    sampling = false;
    await sampler;
    const scan = await scanForPlaintextSecrets({ client, pool, accountId: world.accountId, runs, logs: [path.join(logsDir, 'worker.log'), path.join(logsDir, 'consumer.log')], secrets });
    violations.push(...scan.violations);
    await dumpEvidence(path.join(options.workDir, 'evidence.json'), { runs, windows, failures, pool, accountId: world.accountId });
    violations.push(...apiErrors, ...checks.violations);
    if (worker.unexpectedExits.length) violations.push(`the worker exited ${worker.unexpectedExits.length} times on its own (${worker.unexpectedExits.map((e) => e.code ?? e.signal).join(', ')})`);

    return {
      options: { rotations: options.rotations, tokens: options.tokens, concurrency: options.concurrency, seed: options.seed, faultRate: options.faultRate, overlap: options.overlap, propagationWait: options.propagationWait },
      durationMs: Date.now() - began,
      chaosPhaseMs,
      runs,
      started,
      worker: { starts: worker.starts, kills: worker.kills, startupKills: agentFigures.startupKills, aimedKills: agentFigures.aimedKills, aimedMissed: agentFigures.aimedMissed, crashes: worker.unexpectedExits.length },
      faults: {
        ...faultFigures(sim, fired),
        storeOutages: world.flaky.outages,
        longestStoreOutageMs: world.flaky.longestOutageMs,
        storeBrokenMs: world.flaky.brokenMs,
        latencyStorms: agentFigures.storms,
        rateLimitSqueezes: agentFigures.squeezes,
      },
      consumer: consumerStats,
      secretScan: { secrets: secrets.size, places: scan.places },
      emergencyWindows: windows,
      checks,
      violations,
      logs: { worker: path.join(logsDir, 'worker.log'), consumer: path.join(logsDir, 'consumer.log') },
    };
  } finally {
    await runCleanups(cleanups, log);
  }
}

/** Advisory lock keys of the staging gate (the chaos database's own). */
const STAGING_GATE = [0x43484153, 1] as const; // "CHAS"

/**
 * A gate in front of staging, in the chaos run's own database: every insert into
 * pending_secrets first takes a shared advisory lock, so while the engine holds it exclusively
 * a staging write waits (and nothing else does: promote and discard update and delete).
 */
async function installStagingGate(pool: Pool): Promise<void> {
  await pool.query(`CREATE OR REPLACE FUNCTION chaos_staging_gate() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_advisory_xact_lock_shared(${STAGING_GATE[0]}, ${STAGING_GATE[1]}); RETURN NEW; END $$`);
  await pool.query('DROP TRIGGER IF EXISTS chaos_staging_gate ON pending_secrets');
  await pool.query('CREATE TRIGGER chaos_staging_gate BEFORE INSERT ON pending_secrets FOR EACH ROW EXECUTE FUNCTION chaos_staging_gate()');
}

/**
 * Kills the worker after Cloudflare has answered an issue (rotate or create) and before the
 * secret is staged: the staging gate is closed, the kill comes as soon as the simulator has
 * answered, and the gate opens after the kill (the worker's waiting INSERT dies with its
 * connection). Returns false when no issue came within 45 s.
 */
async function killBetweenAnswerAndStaging(pool: Pool, sim: RunningSimulator, worker: RestartableChild, calm: () => boolean): Promise<boolean> {
  const answered = () => ISSUE_OPERATIONS.reduce((sum, op) => sum + sim.calls.count(op, 200), 0);
  const connection = await pool.connect();
  try {
    await connection.query('BEGIN');
    await connection.query('SELECT pg_advisory_xact_lock($1, $2)', [...STAGING_GATE]);
    const before = answered();
    const deadline = Date.now() + 45_000;
    while (answered() === before && Date.now() < deadline && !calm()) await sleep(10);
    if (answered() === before) {
      await worker.stop('SIGKILL'); // a kill all the same, at a random moment
      return false;
    }
    await sleep(100);
    await worker.stop('SIGKILL');
    return true;
  } finally {
    await connection.query('ROLLBACK').catch(() => undefined);
    connection.release();
  }
}

/** What a failed run needs looked at: runs, windows, consumer failures and the history rows (fingerprints only). */
async function dumpEvidence(file: string, input: { runs: RunRecord[]; windows: EmergencyWindow[]; failures: ConsumerFailure[]; pool: Pool; accountId: string }): Promise<void> {
  const rows = (await input.pool.query(`SELECT run_id, token_name, strategy, mode, status, started_at, finished_at, outcome FROM rotations WHERE account_id = $1 ORDER BY started_at`, [input.accountId])).rows;
  const steps = (await input.pool.query(`SELECT s.run_id, s.seq, s.step, s.outcome, s.started_at, s.finished_at, s.details FROM rotation_steps s JOIN rotations r USING (run_id) WHERE r.account_id = $1 ORDER BY s.run_id, s.seq`, [input.accountId])).rows;
  const evidence = {
    runs: input.runs,
    emergencyWindows: input.windows,
    consumerFailures: input.failures.slice(0, 500),
    rotations: rows.map((row) => ({ ...row, steps: steps.filter((s) => s.run_id === row.run_id) })),
  };
  writeFileSync(file, JSON.stringify(evidence, null, 1), { mode: 0o600 });
}

/** src/worker.ts upserts the production schedules; a shared Temporal server should not keep them. */
async function deleteWorkerSchedules(client: Client): Promise<void> {
  for (const schedule of SCHEDULES) await client.schedule.getHandle(schedule.id).delete().catch(() => undefined);
}

export type { ChaosWorld, RunRecord };
