import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Connection, type Client } from '@temporalio/client';
import { buildApp } from '../../src/api/app';
import { startSimulator } from '@token-warden/cloudflare-simulator';
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
import {
  runFinalChecks,
  scanForPlaintextSecrets,
  type EmergencyWindow,
  type FinalChecks,
  type RunRecord,
} from './checks';
import { startConsumer, type ConsumerStats } from './consumer-process';
import { dumpEvidence } from './evidence';
import { breakStoresNowAndThen, squeezeTheRateLimit, stormNowAndThen } from './fault-agents';
import { cloudflareFaultRules, faultFigures, type FaultFigures } from './faults';
import { runCleanups, type RestartableServices } from './infrastructure';
import {
  DEFAULT_INFRASTRUCTURE_FAULTS,
  planRestarts,
  runInfrastructureFaults,
  type InfrastructureFaultOptions,
} from './infrastructure-faults';
import { OutageLog, type Outage } from './outages';
import { ChaosRandom, sleep } from './random';
import { RunDriver } from './run-driver';
import { installStagingGate } from './staging-gate';
import { WorkerFleet, type KillOptions, type WorkerExit, type WorkerFigures } from './worker-fleet';
import { adoptCredentials, buildChaosWorld, readFileCredential, type ChaosWorld } from './world';
import { apiTokenFamily, readApiTokenFile } from './api-token-world';

export interface ChaosOptions {
  /** Rotation runs to start in the chaos phase (rotate and revoke requests through the API). */
  rotations: number;
  /** Managed service tokens, half `rotate-secret`, half `replace`. */
  tokens: number;
  /** Managed API tokens (successor strategy), account-owned and the user's in turn. */
  apiTokens: number;
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
  /** Worker processes (src/worker.ts), each killed and restarted on its own. */
  workers: number;
  /** SIGKILLs of each worker. */
  kills: false | KillOptions;
  /** Restarts of Temporal and Postgres in the chaos phase: only with `services`. */
  infrastructureFaults: false | InfrastructureFaultOptions;
  /** Stopping and starting the run's own Temporal and Postgres; absent (servers shared with others), nothing restarts. */
  services?: RestartableServices;
  /** How long after an outage a failure may still be its doing (clients reconnecting, a worker noticing late). */
  outageGraceMs: number;
  /** The flaky file-store directory breaks after a gap in [minGapMs, maxGapMs], for short or long outages. */
  storeOutages:
    | false
    | { minGapMs: number; maxGapMs: number; shortMs: [number, number]; longMs: [number, number]; longShare: number };
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

export function chaosOptions(
  overrides: Partial<ChaosOptions> & Pick<ChaosOptions, 'temporalAddress' | 'databaseUrl' | 'workDir'>,
): ChaosOptions {
  return {
    rotations: 200,
    tokens: 12,
    apiTokens: 4,
    concurrency: 12,
    seed: 1,
    faultRate: 0.2,
    workers: 2,
    kills: { minUptimeMs: 50_000, maxUptimeMs: 100_000, startupShare: 0.1, aimedShare: 0.35, maxKills: 1_000 },
    infrastructureFaults: DEFAULT_INFRASTRUCTURE_FAULTS,
    outageGraceMs: 30_000,
    storeOutages: {
      minGapMs: 10_000,
      maxGapMs: 40_000,
      shortMs: [1_500, 8_000],
      longMs: [40_000, 80_000],
      longShare: 0.25,
    },
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

export interface InfrastructureFigures {
  /** Restarts planned per server (none when the servers are not the run's own). */
  planned: { temporal: number; postgres: number };
  outages: Outage[];
  /** Runs started by an attempt whose answer an outage lost. */
  answersLost: number;
}

export interface ChaosReport {
  options: Pick<
    ChaosOptions,
    'rotations' | 'tokens' | 'apiTokens' | 'concurrency' | 'seed' | 'faultRate' | 'overlap' | 'propagationWait'
  >;
  durationMs: number;
  chaosPhaseMs: number;
  runs: RunRecord[];
  started: number;
  workers: WorkerFigures[];
  /** Every exit of a worker that nobody asked for, blamed on an outage or not. */
  workerExits: WorkerExit[];
  infrastructure: InfrastructureFigures;
  faults: FaultFigures & {
    storeOutages: number;
    longestStoreOutageMs: number;
    storeBrokenMs: number;
    latencyStorms: number;
    rateLimitSqueezes: number;
  };
  consumer: ConsumerStats;
  /** Invariant 4: how many secrets were looked for, in how many logs, tables and histories. */
  secretScan: { secrets: number; places: number };
  emergencyWindows: EmergencyWindow[];
  checks: FinalChecks;
  violations: string[];
  logs: { workers: string[]; consumer: string };
}

/**
 * The chaos suite (issue 5, item 8; issue 11, item 7): rotations through the real API while the
 * simulator injects faults, worker processes are SIGKILLed and restarted, Temporal and Postgres
 * restart, a file-store directory breaks, and a consumer process keeps authenticating with what
 * the stores hold. Then calm returns, unfinished tokens are rotated once more, and every invariant
 * of DESIGN.md §5 that can be observed is checked. Returns the figures and the list of violations
 * (empty when the run passes).
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
    const sim = await startSimulator({
      port: 0,
      seed: 'demo',
      faultSeed: options.seed,
      timeScale: options.cloudflareSpeedup,
    });
    cleanups.push(() => sim.close());
    const { world, initial } = buildChaosWorld(sim, {
      count: options.tokens,
      apiTokens: options.apiTokens,
      dir: options.workDir,
      overlap: options.overlap,
      propagationWait: options.propagationWait,
    });
    cleanups.push(async () => world.flaky.repair());

    const key = randomBytes(32);
    const keys: EncryptionKeys = { currentKeyId: 'chaos', keys: new Map([['chaos', key]]) };
    const pool = createPool(options.databaseUrl);
    cleanups.push(() => pool.end());
    // A backend whose worker was SIGKILLed mid-statement gives up instead of finishing it later.
    await pool.query(
      `ALTER DATABASE "${new URL(options.databaseUrl).pathname.slice(1)}" SET client_connection_check_interval = 250`,
    );
    await installStagingGate(pool);
    const pending = createPendingSecretStore(pool, createSecretBox(keys));
    // Every secret the run sees, to look for in places it must never be (invariant 4).
    const secrets = new Set<string>([...initial.values()].map((c) => c.clientSecret));
    const apiTokenNames = new Set(world.apiTokens.map((t) => t.name));
    await adoptCredentials(world, initial, pending);
    initial.clear();

    const connection = await Connection.connect({ address: options.temporalAddress });
    cleanups.push(() => connection.close());
    await ensureSearchAttributes(connection, 'default');
    const client = createTemporalClient(connection, 'default', keys);
    const taskQueue = `tw-chaos-${randomBytes(5).toString('hex')}`;
    // Least privilege: the chaos client may read, rotate and revoke (scopes where the API has them).
    const apiClient = {
      name: 'chaos',
      token: randomBytes(24).toString('base64url'),
      scopes: ['read', 'rotate', 'revoke'] as const,
    };
    const app = await buildApp({
      clients: [apiClient],
      logger: false,
      temporal: client,
      taskQueue,
      history: createHistoryRepository(pool),
      inventory: world.inventory,
      rotations: createRotationRepository(pool),
      metrics: createMetricsQueries(pool),
      codec: { codec: new AesGcmPayloadCodec(keys), uiOrigins: [], public: false },
      readiness: { temporal: async () => undefined, postgres: async () => void (await pool.query('SELECT 1')) },
    });
    cleanups.push(() => app.close());
    if (options.deleteSchedules) cleanups.push(() => deleteWorkerSchedules(client));
    const outages = new OutageLog(options.outageGraceMs);
    const driver = new RunDriver({
      app,
      auth: { authorization: `Bearer ${apiClient.token}` },
      client,
      taskQueue,
      outages,
      routeOf: (token) => (apiTokenNames.has(token) ? 'api-tokens' : 'service-tokens'),
    });
    const { runs, windows, lanes } = driver;

    // ---- The workers: production entry point, configured by environment ----------------------
    const logsDir = path.join(options.workDir, 'logs');
    mkdirSync(logsDir, { recursive: true });
    const fleet = new WorkerFleet({
      count: options.workers,
      env: {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        HOME: process.env.HOME ?? options.workDir,
        NODE_ENV: 'development',
        LOG_LEVEL: 'info',
        DATA_DIR: path.join(options.workDir, 'data'),
        TEMPORAL_ADDRESS: options.temporalAddress,
        TEMPORAL_TASK_QUEUE: taskQueue,
        CLOUDFLARE_API_TOKEN_FILE: world.wardenTokenFile,
        CLOUDFLARE_BASE_URL: sim.baseURL,
        // The budget's window runs as fast as the simulator's, so it keeps to the allowance Cloudflare's limiter enforces.
        CLOUDFLARE_BUDGET_WINDOW_SECONDS: String(300 / options.cloudflareSpeedup),
        TOKEN_WARDEN_INVENTORY: world.inventoryFile,
        TOKEN_WARDEN_ENCRYPTION_KEY: key.toString('base64'),
        TOKEN_WARDEN_ENCRYPTION_KEY_ID: 'chaos',
      },
      databaseUrl: options.databaseUrl,
      logsDir,
      connection,
      taskQueue,
      outages,
      log,
    });
    const killWorkers = () => fleet.killNow();
    process.once('exit', killWorkers);
    cleanups.push(async () => {
      process.removeListener('exit', killWorkers);
      await fleet.close();
    });
    const late = await fleet.start(120_000);
    if (late.length) throw new Error(`${late.join(', ')} did not start; see ${logsDir}`);
    log(`${options.workers} workers up; task queue ${taskQueue}`);

    // ---- The consumer: a process of its own, authenticating with what the file stores hold ----
    const consumerLog = path.join(logsDir, 'consumer.log');
    const consumer = startConsumer(
      {
        probeUrl: world.probeUrl,
        stores: [
          ...world.tokens.flatMap((t) => t.files.map((f) => ({ token: t.name, file: f.realPath }))),
          ...world.apiTokens.flatMap((t) =>
            t.files.map((f) => ({ token: t.name, file: f.realPath, verifyUrl: t.verifyUrl })),
          ),
        ],
        intervalMs: options.consumerIntervalMs,
        maxRunMs: options.chaosPhaseMs + options.settleMs + 5 * 60_000,
      },
      consumerLog,
      options.workDir,
    );
    const killConsumer = () => consumer.child.killNow();
    process.once('exit', killConsumer);
    cleanups.push(async () => {
      process.removeListener('exit', killConsumer);
      await consumer.child.close();
    });

    // ---- Chaos agents: each a bounded loop that ends when `calm` is set ------------------------
    let calm = false;
    const isCalm = () => calm;
    let started = 0;
    const agents: Array<Promise<void>> = [];
    const agentFigures = { storms: 0, squeezes: 0 };
    /** Checks that each worker polls again after Temporal came back. */
    const resumeChecks: Array<Promise<void>> = [];

    sim.faults.set(cloudflareFaultRules(options.faultRate));
    const kills = options.kills;
    if (kills)
      for (const worker of fleet.workers) agents.push(fleet.killAtRandom(worker, kills, random.fork(), pool, isCalm));
    let serverLost: unknown;
    const infrastructure =
      options.infrastructureFaults && options.services
        ? { faults: options.infrastructureFaults, services: options.services }
        : undefined;
    const plan = infrastructure ? planRestarts(infrastructure.faults, random.fork()) : [];
    if (infrastructure && plan.length) {
      agents.push(
        runInfrastructureFaults({
          services: infrastructure.services,
          plan,
          outages,
          minGapMs: infrastructure.faults.minGapMs,
          progress: () => started / options.rotations,
          calm: isCalm,
          log,
          onRecovered: (outage) => {
            if (outage.service === 'temporal') resumeChecks.push(fleet.expectPolling(outage, 90_000));
          },
        }).catch((error: unknown) => {
          // A server that did not come back: whoever waits for it fails now, the run at the calm.
          serverLost = error;
        }),
      );
    }
    const context = { random, calm: isCalm };
    if (options.storeOutages) agents.push(breakStoresNowAndThen(world.flaky, options.storeOutages, context));
    if (options.rateLimitSqueezes)
      agents.push(
        squeezeTheRateLimit(sim, options.rateLimitSqueezes, context).then((n) => void (agentFigures.squeezes = n)),
      );
    if (options.latencyStorms)
      agents.push(stormNowAndThen(sim, options.latencyStorms, context).then((n) => void (agentFigures.storms = n)));

    // The secrets the stores receive along the way (a bounded loop: it ends with the run).
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        for (const file of world.tokens.flatMap((t) => t.files)) {
          const credential = readFileCredential(file.realPath);
          if (credential) secrets.add(credential.clientSecret);
        }
        for (const file of world.apiTokens.flatMap((t) => t.files)) {
          const value = readApiTokenFile(file.realPath);
          if (value) secrets.add(value.clientSecret);
        }
        await sleep(1_000);
      }
    })();
    cleanups.push(async () => {
      sampling = false;
      await sampler;
    });

    // ---- The chaos phase: N runs, `concurrency` at a time ------------------------------------
    const chaosBegan = Date.now();
    const chaosDeadline = chaosBegan + options.chaosPhaseMs;
    let lastReport = Date.now();
    // token-warden's own token goes first, while workers are killed and servers restart around it,
    // and is revoked in an emergency as soon as that run has ended; later it takes its chances.
    const ownToken = world.apiTokens.find((t) => t.self)?.name;
    const ownTokenTurns: Array<'rotate' | 'revoke'> = ownToken ? ['rotate', 'revoke'] : [];
    while (started < options.rotations && Date.now() < chaosDeadline) {
      const idle = [...world.tokens, ...world.apiTokens].map((t) => t.name).filter((name) => !lanes.has(name));
      // The last runs are kept for the own token's turns: it waits for its running rotation to end.
      const keptForOwnToken =
        ownToken !== undefined && !idle.includes(ownToken) && options.rotations - started <= ownTokenTurns.length;
      if (lanes.size < options.concurrency && idle.length && !keptForOwnToken) {
        if (lanes.size && random.chance(options.runningRevokeShare)) {
          // An emergency revoke of a token whose rotation is running (signalled, or a new run if it just ended).
          if (await driver.request(random.pick([...lanes.keys()]), 'revoke', 'revoke')) started += 1;
        }
        const ownTurn = ownToken && idle.includes(ownToken) ? ownTokenTurns.shift() : undefined;
        const token = ownTurn ? ownToken! : random.pick(idle);
        const action = ownTurn ?? (random.chance(options.emergencyShare) ? 'revoke' : 'rotate');
        if (await driver.request(token, action, action)) started += 1;
      } else {
        await Promise.race([...lanes.values(), sleep(500)]);
      }
      if (Date.now() - lastReport > 15_000) {
        lastReport = Date.now();
        const done = runs.filter((r) => r.outcome).length;
        const workerKills = fleet.figures().reduce((sum, w) => sum + w.kills, 0);
        log(
          `${Math.round((Date.now() - chaosBegan) / 1000)} s: ${started} started, ${done} finished, ${workerKills} worker kills, ${outages.outages.length} server restarts, ${consumer.failures.length} consumer failures`,
        );
      }
    }
    if (started < options.rotations)
      violations.push(
        `only ${started} of ${options.rotations} rotations started before the chaos phase ended (${options.chaosPhaseMs} ms)`,
      );
    // The last runs go on under the same chaos for a while, then finish in calm.
    const tailDeadline = Math.min(chaosDeadline, Date.now() + options.chaosTailMs);
    while (lanes.size && Date.now() < tailDeadline) await Promise.race([...lanes.values(), sleep(1_000)]);

    // ---- Calm: faults off, store repaired, servers and workers up; unfinished runs finish ----
    const chaosPhaseMs = Date.now() - chaosBegan;
    const fired = Object.fromEntries(sim.faults.list().map((rule) => [rule.id, rule.fired]));
    calm = true;
    await Promise.all(agents);
    if (serverLost) throw serverLost;
    await Promise.all(resumeChecks);
    sim.faults.clear();
    world.flaky.repair();
    for (const name of await fleet.start(120_000))
      violations.push(`${name} did not poll its task queues again within 2 minutes of the calm`);
    log(
      `chaos phase over after ${Math.round(chaosPhaseMs / 1000)} s${lanes.size ? `; waiting for ${lanes.size} running rotations` : ''}`,
    );
    const settleDeadline = Date.now() + options.settleMs;
    const untilSettled = async () => {
      while (lanes.size && Date.now() < settleDeadline) await Promise.race([...lanes.values(), sleep(1_000)]);
    };
    await untilSettled();
    const unanswered = await driver.followUnanswered();
    if (unanswered) log(`${unanswered} runs started by attempts whose answer an outage lost; following them too`);
    await untilSettled();

    // A token whose last run did not complete, whose emergency is still open, or that Cloudflare
    // shows in more than one piece (several tokens of its name, a previous secret still alive) is
    // rotated again, as an operator (or the next schedule) would.
    const untidy = (name: string) => {
      const apiToken = world.apiTokens.find((t) => t.name === name);
      if (apiToken) return apiTokenFamily(sim, apiToken, world.accountId).length !== 1;
      const namesakes = sim.state.serviceTokens
        .list({ kind: 'account', accountId: world.accountId })
        .filter((t) => t.name === name);
      const now = sim.clock.now();
      return (
        namesakes.length !== 1 ||
        namesakes.some(
          (t) => t.previous_client_secret_expires_at !== null && Date.parse(t.previous_client_secret_expires_at) > now,
        )
      );
    };
    for (let round = 1; round <= 3 && Date.now() < settleDeadline; round++) {
      const unsettled = [...world.tokens, ...world.apiTokens]
        .map((t) => t.name)
        .filter((name) => {
          const last = runs.filter((r) => r.token === name).at(-1);
          return (
            (last && last.outcome !== 'completed') ||
            windows.some((w) => w.token === name && w.to === null) ||
            untidy(name)
          );
        });
      if (!unsettled.length) break;
      log(`settle round ${round}: rotating ${unsettled.join(', ')} once more`);
      for (const name of unsettled) await driver.request(name, 'rotate', 'settle');
      await untilSettled();
    }
    for (const run of runs) if (!run.outcome) run.outcome = 'stuck';

    // Let the consumer look at the final state for a few rounds, then stop it.
    await sleep(Math.max(2_000, options.consumerIntervalMs * 8));
    await consumer.child.stop('SIGTERM');

    const failures = consumer.failures;
    const checks = await runFinalChecks({
      sim,
      world,
      pool,
      pending,
      client,
      taskQueue,
      runs,
      failures,
      windows,
      graceMs: 1_500,
    });
    sampling = false;
    await sampler;
    const workerLogs = fleet.figures().map((w) => w.logFile);
    const scan = await scanForPlaintextSecrets({
      client,
      pool,
      accountId: world.accountId,
      runs,
      logs: [...workerLogs, consumerLog],
      secrets,
    });
    violations.push(...scan.violations);
    await dumpEvidence(path.join(options.workDir, 'evidence.json'), {
      runs,
      windows,
      failures,
      outages: outages.outages,
      workerExits: fleet.exits,
      pool,
      accountId: world.accountId,
    });
    violations.push(...driver.apiErrors, ...checks.violations, ...fleet.crashes(), ...fleet.hangs);

    return {
      options: {
        rotations: options.rotations,
        tokens: options.tokens,
        apiTokens: options.apiTokens,
        concurrency: options.concurrency,
        seed: options.seed,
        faultRate: options.faultRate,
        overlap: options.overlap,
        propagationWait: options.propagationWait,
      },
      durationMs: Date.now() - began,
      chaosPhaseMs,
      runs,
      started,
      workers: fleet.figures(),
      workerExits: fleet.exits,
      infrastructure: {
        planned: {
          temporal: plan.filter((r) => r.service === 'temporal').length,
          postgres: plan.filter((r) => r.service === 'postgres').length,
        },
        outages: outages.outages,
        answersLost: runs.filter((r) => r.answerLost).length,
      },
      faults: {
        ...faultFigures(sim, fired),
        storeOutages: world.flaky.outages,
        longestStoreOutageMs: world.flaky.longestOutageMs,
        storeBrokenMs: world.flaky.brokenMs,
        latencyStorms: agentFigures.storms,
        rateLimitSqueezes: agentFigures.squeezes,
      },
      consumer: consumer.stats(),
      secretScan: { secrets: secrets.size, places: scan.places },
      emergencyWindows: windows,
      checks,
      violations,
      logs: { workers: workerLogs, consumer: consumerLog },
    };
  } finally {
    await runCleanups(cleanups, log);
  }
}

/** src/worker.ts upserts the production schedules; a shared Temporal server should not keep them. */
async function deleteWorkerSchedules(client: Client): Promise<void> {
  for (const schedule of SCHEDULES)
    await client.schedule
      .getHandle(schedule.id)
      .delete()
      .catch(() => undefined);
}

export type { ChaosWorld, RunRecord };
