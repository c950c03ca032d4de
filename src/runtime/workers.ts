import { existsSync } from 'node:fs';
import { NativeConnection, Worker, type WorkerOptions, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createCloudflareActivities, createLocalActivities, type ActivityDeps } from '../activities';
import { heartbeatWhileRunning } from '../activities/heartbeat';
import { createDataConverter } from '../temporal/data-converter';
import type { EncryptionKeys } from '../temporal/codec';
import type { TemporalSettings } from '../temporal/connection';
import { WORKFLOW_BUNDLE_PATH } from '../paths';
import { cachedWorkflowBundle } from './workflow-bundle-cache';
import { cloudflareTaskQueue, emergencyTaskQueue } from '../workflows/triggers';
import { LANES, type Lane } from '../cloudflare/budget/lanes';
import type { RuntimeAttachment } from './assemble-runtime';
import { spawnEmergencyThread, type SpawnedEmergencyThread } from './emergency-thread';

const DEFAULT_CLOUDFLARE_SLOTS = 10;

export interface WorkerSettings {
  temporal: TemporalSettings;
  taskQueue: string;
  keys: EncryptionKeys;
  /** The activities' dependencies, their Cloudflare clients taking the budget in `lane`. */
  deps: (lane: Lane) => ActivityDeps;
  /**
   * Cloudflare activities one worker runs at once per lane. They mostly wait for the shared
   * request budget, so a few suffice; waiting in Temporal's queue costs nothing.
   */
  cloudflareSlotsPerLane?: number;
  /** Use the prebuilt bundle (production) rather than bundling src/workflows at start-up. */
  prebuiltBundle?: boolean;
  /** src/workflows' bundle, begun earlier (npm start makes it while the servers start). */
  workflowBundle?: Promise<WorkflowBundleWithSourceMap>;
  logger?: Logger;
  /**
   * Run the emergency lane's workers in a worker thread that opens this runtime again (`spawned`
   * earlier, or now); in this thread when absent.
   */
  emergencyThread?: { attachment: RuntimeAttachment; spawned?: SpawnedEmergencyThread };
}

export interface RunningWorkers {
  /** Resolves when every worker has stopped; rejects with WorkerFailedError once one has failed and the others were stopped. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

/** The prebuilt bundle (production), or src/workflows bundled once for every worker of the process. */
async function workflowSource(
  prebuilt: boolean | undefined,
  begun: Promise<WorkflowBundleWithSourceMap> | undefined,
): Promise<Pick<WorkerOptions, 'workflowBundle'>> {
  if (prebuilt) {
    if (!existsSync(WORKFLOW_BUNDLE_PATH))
      throw new Error(`no workflow bundle at ${WORKFLOW_BUNDLE_PATH}: run \`npm run build\``);
    return { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } };
  }
  return { workflowBundle: await (begun ?? cachedWorkflowBundle()) };
}

/** One connection for a thread's workers, and the options they share: its namespace, the payload codec, heartbeats. */
export async function connectWorkers(temporal: TemporalSettings, keys: EncryptionKeys) {
  const connection = await NativeConnection.connect({
    address: temporal.address,
    apiKey: temporal.apiKey,
    tls: temporal.tls || Boolean(temporal.apiKey) ? {} : undefined,
  });
  // Activities heartbeat while they run: a worker that dies under one is noticed in seconds.
  const common = {
    connection,
    namespace: temporal.namespace,
    dataConverter: createDataConverter(keys),
    interceptors: { activity: [heartbeatWhileRunning] },
  };
  return { connection, common };
}

/**
 * Workers on one connection: the main queue runs workflows and light activities; one queue per
 * lane of the Cloudflare request budget runs only Cloudflare calls, so an emergency never
 * waits for a worker slot that routine work holds while it waits for the budget.
 */
export async function startWorkers(settings: WorkerSettings): Promise<RunningWorkers> {
  const { connection, common } = await connectWorkers(settings.temporal, settings.keys);
  const workflows = await workflowSource(settings.prebuiltBundle, settings.workflowBundle);
  const slots = settings.cloudflareSlotsPerLane ?? DEFAULT_CLOUDFLARE_SLOTS;
  // Emergency revokes run on a queue of their own: their workflow tasks and bookkeeping never
  // wait behind a fleet rotation's backlog on the main queue, and their Cloudflare calls run
  // there too, in the emergency lane of the budget. In a thread of their own, they do not wait
  // for this thread either, when a fleet's activations and Cloudflare calls keep it busy.
  const emergencyStarting = settings.emergencyThread
    ? (settings.emergencyThread.spawned ?? spawnEmergencyThread())
        .start({
          attachment: settings.emergencyThread.attachment,
          taskQueue: settings.taskQueue,
          workflows,
          logger: settings.logger,
        })
        .then((thread) => [{ taskQueue: `${emergencyTaskQueue(settings.taskQueue)} (thread)`, worker: thread }])
    : createEmergencyWorkers(common, settings.taskQueue, workflows, settings.deps('emergency'), slots);
  let main: Worker, emergency: Array<{ taskQueue: string; worker: SupervisedWorker }>, cloudflare: Worker[];
  try {
    [main, emergency, cloudflare] = await Promise.all([
      Worker.create({
        ...common,
        taskQueue: settings.taskQueue,
        ...workflows,
        activities: createLocalActivities(settings.deps('interactive')),
      }),
      emergencyStarting,
      Promise.all(
        LANES.filter((lane) => lane !== 'emergency').map((lane) =>
          Worker.create({
            ...common,
            taskQueue: cloudflareTaskQueue(settings.taskQueue, lane),
            activities: createCloudflareActivities(settings.deps(lane)),
            maxConcurrentActivityTaskExecutions: slots,
          }),
        ),
      ),
    ]);
  } catch (error) {
    // The thread, if it started, is stopped; the workers made in this thread never ran.
    for (const { worker } of (await emergencyStarting.catch(() => undefined)) ?? [])
      if (!(worker instanceof Worker)) worker.shutdown();
    // Workers made but never run still hold the connection: it closes with the process.
    await connection.close().catch(() => undefined);
    throw error;
  }
  const workers = [
    { taskQueue: settings.taskQueue, worker: main },
    ...emergency,
    ...cloudflare.map((worker) => ({ taskQueue: worker.options.taskQueue, worker })),
  ];
  return superviseWorkers(workers, { logger: settings.logger, onStopped: () => connection.close() });
}

/**
 * Everything of the emergency lane: the emergency queue's worker (revokes' workflows and every
 * activity they run) and the emergency lane's Cloudflare worker (the kill of a revoke that
 * signalled a running rotation).
 */
export async function createEmergencyWorkers(
  common: Pick<WorkerOptions, 'connection' | 'namespace' | 'dataConverter' | 'interceptors'>,
  taskQueue: string,
  workflows: Pick<WorkerOptions, 'workflowBundle'>,
  deps: ActivityDeps,
  cloudflareSlots = DEFAULT_CLOUDFLARE_SLOTS,
): Promise<Array<{ taskQueue: string; worker: Worker }>> {
  const workers = await Promise.all([
    Worker.create({
      ...common,
      taskQueue: emergencyTaskQueue(taskQueue),
      ...workflows,
      activities: { ...createLocalActivities(deps), ...createCloudflareActivities(deps) },
    }),
    Worker.create({
      ...common,
      taskQueue: cloudflareTaskQueue(taskQueue, 'emergency'),
      activities: createCloudflareActivities(deps),
      maxConcurrentActivityTaskExecutions: cloudflareSlots,
    }),
  ]);
  return workers.map((worker) => ({ taskQueue: worker.options.taskQueue, worker }));
}

/** What supervision needs of a worker: the SDK's `Worker`, or a stand-in. */
export interface SupervisedWorker {
  run(): Promise<void>;
  shutdown(): void;
  getState(): string;
}

/** One worker of the process failed (or stopped unasked): every other one has been stopped too. */
export class WorkerFailedError extends Error {
  override readonly name = 'WorkerFailedError';
  constructor(
    readonly taskQueue: string,
    override readonly cause: unknown,
  ) {
    super(
      `the worker of task queue ${taskQueue} ${cause instanceof Error ? `failed: ${cause.message}` : String(cause)}; every worker of this process has been stopped, so the process exits to be restarted`,
    );
  }
}

/**
 * Runs a process's workers as one: when one of them fails, or stops while nobody asked it to,
 * the others are shut down and `done` rejects with a WorkerFailedError naming its queue. A
 * process whose emergency or Cloudflare worker died while the main one kept polling would look
 * alive to Kubernetes and do only part of its work; this way it exits and is restarted.
 */
export function superviseWorkers(
  workers: ReadonlyArray<{ taskQueue: string; worker: SupervisedWorker }>,
  options: { logger?: Pick<Logger, 'error'>; onStopped?: () => Promise<void> } = {},
): RunningWorkers {
  let stopping = false;
  let failure: WorkerFailedError | undefined;
  const stopAll = () => {
    for (const { worker } of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
  };
  const fail = (taskQueue: string, cause: unknown) => {
    if (failure) return;
    failure = new WorkerFailedError(taskQueue, cause);
    options.logger?.error({ taskQueue, err: cause }, failure.message);
    stopAll();
  };
  const runs = workers.map(({ taskQueue, worker }) =>
    worker.run().then(
      () => {
        if (!stopping) fail(taskQueue, new Error('it stopped although no shutdown was asked for'));
      },
      (error: unknown) => fail(taskQueue, error),
    ),
  );
  const done = Promise.all(runs).then(async () => {
    await options.onStopped?.().catch(() => undefined);
    if (failure) throw failure;
  });
  return {
    done,
    async shutdown() {
      stopping = true;
      stopAll();
      await done;
    },
  };
}
