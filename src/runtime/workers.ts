import { existsSync } from 'node:fs';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createCloudflareActivities, createLocalActivities, type ActivityDeps } from '../activities';
import { heartbeatWhileRunning } from '../activities/heartbeat';
import { createDataConverter } from '../temporal/data-converter';
import type { EncryptionKeys } from '../temporal/codec';
import type { TemporalSettings } from '../temporal/connection';
import { WORKFLOW_BUNDLE_PATH } from '../paths';
import { cloudflareTaskQueue, emergencyTaskQueue } from '../workflows/triggers';
import { LANES, type Lane } from '../cloudflare/budget/lanes';

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
  logger?: Logger;
}

export interface RunningWorkers {
  /** Resolves when every worker has stopped. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

/** The prebuilt bundle (production), or src/workflows bundled once for every worker of the process. */
async function workflowSource(prebuilt: boolean | undefined): Promise<Pick<WorkerOptions, 'workflowBundle'>> {
  if (prebuilt) {
    if (!existsSync(WORKFLOW_BUNDLE_PATH)) throw new Error(`no workflow bundle at ${WORKFLOW_BUNDLE_PATH}: run \`npm run build\``);
    return { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } };
  }
  return { workflowBundle: await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows'), logger: quietBundler }) };
}

const quietBundler = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

/**
 * Workers on one connection: the main queue runs workflows and light activities; one queue per
 * lane of the Cloudflare request budget runs only Cloudflare calls, so an emergency never
 * waits for a worker slot that routine work holds while it waits for the budget.
 */
export async function startWorkers(settings: WorkerSettings): Promise<RunningWorkers> {
  const connection = await NativeConnection.connect({
    address: settings.temporal.address,
    apiKey: settings.temporal.apiKey,
    tls: settings.temporal.tls || Boolean(settings.temporal.apiKey) ? {} : undefined,
  });
  const dataConverter = createDataConverter(settings.keys);
  // Activities heartbeat while they run: a worker that dies under one is noticed in seconds.
  const common = { connection, namespace: settings.temporal.namespace, dataConverter, interceptors: { activity: [heartbeatWhileRunning] } };
  const workflows = await workflowSource(settings.prebuiltBundle);
  const local = createLocalActivities(settings.deps('interactive'));
  const main = await Worker.create({ ...common, taskQueue: settings.taskQueue, ...workflows, activities: local });
  // Emergency revokes run on a queue of their own: their workflow tasks and bookkeeping never
  // wait behind a fleet rotation's backlog on the main queue.
  const emergency = await Worker.create({ ...common, taskQueue: emergencyTaskQueue(settings.taskQueue), ...workflows, activities: local });
  const cloudflare = await Promise.all(
    LANES.map((lane) =>
      Worker.create({
        ...common,
        taskQueue: cloudflareTaskQueue(settings.taskQueue, lane),
        activities: createCloudflareActivities(settings.deps(lane)),
        maxConcurrentActivityTaskExecutions: settings.cloudflareSlotsPerLane ?? 10,
      }),
    ),
  );
  const workers = [main, emergency, ...cloudflare];
  const done = Promise.all(workers.map((worker) => worker.run())).then(async () => {
    await connection.close();
  });
  return {
    done,
    async shutdown() {
      for (const worker of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
