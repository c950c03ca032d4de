import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Connection, type Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { Client as PgClient, type Pool } from 'pg';
import { startSimulator, type RunningSimulator } from '@token-warden/cloudflare-simulator';
import { migrate } from '../../src/db/migrate';
import { createPool } from '../../src/db/pool';
import { createStoreMemo } from '../../src/db/store-memo';
import { SCHEDULES } from '../../src/schedules';
import { createPendingSecretStore } from '../../src/secrets/pending-secrets';
import { createSecretBox } from '../../src/secrets/secret-box';
import type { EncryptionKeys } from '../../src/temporal/codec';
import { createTemporalClient } from '../../src/temporal/connection';
import { freePort } from '../../src/temporal/dev-server';
import { ensureSearchAttributes } from '../../src/temporal/ensure-search-attributes';
import { LANES } from '../../src/cloudflare/budget/lanes';
import { cloudflareTaskQueue } from '../../src/workflows/triggers';
import { runCleanups } from '../chaos/infrastructure';
import { sleep } from '../chaos/random';
import { adoptCredentials } from '../chaos/world';
import { RestartableChild } from '../support/processes';
import { RequestLog } from './request-log';
import { buildBenchWorld, type BenchWorld, type BenchWorldOptions } from './world';

export interface StackOptions {
  /** Names the stack's database, task queue and directory. */
  name: string;
  temporalAddress: string;
  /** A database URL on the run's Postgres server; the stack creates a database of its own beside it. */
  databaseUrl: string;
  workDir: string;
  /** The simulator's rate-limit window and the workers' budget window run this many times faster. */
  timeScale: number;
  world: Omit<BenchWorldOptions, 'dir' | 'memo'>;
  /** Worker processes (src/worker.ts), each with the same environment. */
  workers: number;
  /** The worker and API from dist/ (`npm run build`), NODE_ENV=production, as the image runs them. */
  fromDist?: boolean;
  /** Extra environment of the workers (the calibration's unlimited budget); default configuration otherwise. */
  workerEnv?: Record<string, string>;
  /** Extra environment of the API process (the speed phase's rate limit). */
  apiEnv?: Record<string, string>;
  /** Cloudflare's limit enforced by the simulator (off only for the calibration). */
  enforceLimit: boolean;
  /** Start the API process (src/api/server.ts) with this many polling clients besides the operator. */
  api?: { pollers: number };
  log: (line: string) => void;
}

export interface ApiProcess {
  url: string;
  /** The operator's bearer token (revokes, rotations). */
  operator: string;
  /** One bearer token per polling client, each with a rate limit of its own. */
  pollers: string[];
}

export interface BenchStack {
  sim: RunningSimulator;
  world: BenchWorld;
  requests: RequestLog;
  pool: Pool;
  connection: Connection;
  client: Client;
  keys: EncryptionKeys;
  taskQueue: string;
  workers: RestartableChild[];
  /** The processes run dist/'s build (production), not src/ under tsx. */
  fromDist: boolean;
  api: ApiProcess | null;
  logsDir: string;
  close(): Promise<void>;
}

/** A database of its own on the run's Postgres server, migrated. */
async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const adminUrl = new URL(serverUrl);
  adminUrl.pathname = '/postgres';
  const admin = new PgClient({ connectionString: adminUrl.toString() });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  await migrate(url.toString());
  return url.toString();
}

/**
 * What one bench phase runs on: a Cloudflare simulator at the time scale (in this process, so every
 * request is seen as it arrives), a world of tokens adopted into their stores, a database of its
 * own, `workers` production worker processes and, when asked, the production API process.
 * The schedules the workers create at start-up are deleted (a cron firing mid-run would add
 * requests nobody asked for).
 */
export async function startBenchStack(options: StackOptions): Promise<BenchStack> {
  const { log } = options;
  const cleanups: Array<() => Promise<void>> = [];
  try {
    const dir = path.join(options.workDir, options.name);
    const logsDir = path.join(dir, 'logs');
    mkdirSync(logsDir, { recursive: true, mode: 0o700 });
    const databaseUrl = await createDatabase(
      options.databaseUrl,
      `bench_${options.name.replace(/[^a-z0-9]/g, '_')}_${randomBytes(3).toString('hex')}`,
    );
    const pool = createPool(databaseUrl);
    cleanups.push(() => pool.end());

    const sim = await startSimulator({
      port: 0,
      seed: 'none',
      timeScale: options.timeScale,
      rateLimit: { enabled: false },
    });
    cleanups.push(() => sim.close());
    const { world, initial } = buildBenchWorld(sim, { ...options.world, dir, memo: createStoreMemo(pool) });
    const key = randomBytes(32);
    const keys: EncryptionKeys = { currentKeyId: 'bench', keys: new Map([['bench', key]]) };
    // Adoption writes every store (Workers and Secrets Store ones through the API), as an operator would.
    await adoptCredentials(world.chaos, initial, createPendingSecretStore(pool, createSecretBox(keys)));
    initial.clear();
    // Setting up cost requests too; Cloudflare's limit starts counting now.
    sim.rateLimit.configure({ enabled: options.enforceLimit });
    sim.rateLimit.reset();
    sim.calls.reset();
    const requests = new RequestLog(sim);
    cleanups.push(async () => requests.close());
    log(
      `${options.name}: ${world.tokens.length} service tokens, ${world.apiTokenNames.length} API tokens, ${world.apps} Access apps, ${world.policies} policies; simulator at ${sim.baseURL} (time scale ${options.timeScale})`,
    );

    const connection = await Connection.connect({ address: options.temporalAddress });
    cleanups.push(() => connection.close());
    await ensureSearchAttributes(connection, 'default');
    const client = createTemporalClient(connection, 'default', keys);
    const taskQueue = `tw-bench-${options.name}-${randomBytes(4).toString('hex')}`;

    const baseEnv = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? dir,
      NODE_ENV: options.fromDist ? 'production' : 'development',
      LOG_LEVEL: 'warn',
      DATA_DIR: path.join(dir, 'data'),
      TEMPORAL_ADDRESS: options.temporalAddress,
      TEMPORAL_TASK_QUEUE: taskQueue,
      DATABASE_URL: databaseUrl,
      CLOUDFLARE_API_TOKEN: world.wardenToken,
      CLOUDFLARE_BASE_URL: sim.baseURL,
      // Cloudflare's window as the simulator runs it: the budget keeps to the allowance its limiter enforces.
      CLOUDFLARE_BUDGET_WINDOW_SECONDS: String(300 / options.timeScale),
      TOKEN_WARDEN_INVENTORY: world.chaos.inventoryFile,
      TOKEN_WARDEN_ENCRYPTION_KEY: key.toString('base64'),
      TOKEN_WARDEN_ENCRYPTION_KEY_ID: 'bench',
    };
    const workers = Array.from(
      { length: options.workers },
      (_, i) =>
        new RestartableChild({
          name: `worker-${i + 1}`,
          entry: 'src/worker.ts',
          compiled: options.fromDist,
          logFile: path.join(logsDir, `worker-${i + 1}.log`),
          env: { ...baseEnv, ...options.workerEnv },
        }),
    );
    const children: RestartableChild[] = [...workers];
    const killChildren = () => children.forEach((c) => c.killNow());
    process.once('exit', killChildren);
    cleanups.push(async () => {
      process.removeListener('exit', killChildren);
      await Promise.all(children.map((c) => c.close()));
    });
    for (const worker of workers) worker.start();

    let api: ApiProcess | null = null;
    if (options.api) {
      const port = await freePort();
      const operator = randomBytes(24).toString('base64url');
      const pollers = Array.from({ length: options.api.pollers }, () => randomBytes(24).toString('base64url'));
      const child = new RestartableChild({
        name: 'api',
        entry: 'src/api/server.ts',
        compiled: options.fromDist,
        logFile: path.join(logsDir, 'api.log'),
        env: {
          ...baseEnv,
          HOST: '127.0.0.1',
          PORT: String(port),
          CLIENT_AUTH_TOKEN: operator,
          API_CLIENT_TOKENS: pollers.map((t, i) => `poller-${i}:${t}`).join(','),
          ...options.apiEnv,
        },
      });
      children.push(child);
      child.start();
      api = { url: `http://127.0.0.1:${port}`, operator, pollers };
    }

    const began = Date.now();
    for (const worker of workers) {
      if (!(await workerReady(connection, taskQueue, worker, 180_000)))
        throw new Error(`${options.name}: a worker did not start; see ${logsDir}`);
    }
    if (api && !(await apiReady(api.url, children.at(-1)!, 120_000)))
      throw new Error(`${options.name}: the API did not start; see ${path.join(logsDir, 'api.log')}`);
    for (const schedule of SCHEDULES)
      await client.schedule
        .getHandle(schedule.id)
        .delete()
        .catch(() => undefined);
    log(
      `${options.name}: ${workers.length} worker processes${api ? ' and the API process' : ''} up after ${Math.round((Date.now() - began) / 1000)} s (task queue ${taskQueue})`,
    );

    return {
      sim,
      world,
      requests,
      pool,
      connection,
      client,
      keys,
      taskQueue,
      workers,
      fromDist: Boolean(options.fromDist),
      api,
      logsDir,
      close: () => runCleanups(cleanups, log),
    };
  } catch (error) {
    await runCleanups(cleanups, log);
    throw error;
  }
}

/** This start of the worker polls the main queue's workflows and every lane's Cloudflare activities. */
async function workerReady(
  connection: Connection,
  taskQueue: string,
  worker: RestartableChild,
  timeoutMs: number,
): Promise<boolean> {
  const { TASK_QUEUE_TYPE_WORKFLOW, TASK_QUEUE_TYPE_ACTIVITY } = temporal.api.enums.v1.TaskQueueType;
  const polledBy = async (name: string, type: temporal.api.enums.v1.TaskQueueType, pid: number) => {
    const { pollers } = await connection.workflowService.describeTaskQueue({
      namespace: 'default',
      taskQueue: { name },
      taskQueueType: type,
    });
    return (pollers ?? []).some((poller) => poller.identity?.startsWith(`${pid}@`));
  };
  const deadline = Date.now() + timeoutMs;
  while (worker.running() && Date.now() < deadline) {
    const pid = worker.pid;
    if (pid !== undefined) {
      const queues = [
        polledBy(taskQueue, TASK_QUEUE_TYPE_WORKFLOW, pid),
        ...LANES.map((lane) => polledBy(cloudflareTaskQueue(taskQueue, lane), TASK_QUEUE_TYPE_ACTIVITY, pid)),
      ];
      if ((await Promise.all(queues)).every(Boolean)) return true;
    }
    await sleep(500);
  }
  return false;
}

async function apiReady(url: string, child: RestartableChild, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (child.running() && Date.now() < deadline) {
    const status = await fetch(`${url}/health`).then(
      (r) => r.arrayBuffer().then(() => r.status),
      () => 0,
    );
    if (status === 200) return true;
    await sleep(500);
  }
  return false;
}
