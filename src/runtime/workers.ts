import { existsSync } from 'node:fs';
import { NativeConnection, Worker, type WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createCloudflareActivities, createLocalActivities, type ActivityDeps } from '../activities';
import { heartbeatWhileRunning } from '../activities/heartbeat';
import { createDataConverter } from '../temporal/data-converter';
import type { EncryptionKeys } from '../temporal/codec';
import type { TemporalSettings } from '../temporal/connection';
import { WORKFLOW_BUNDLE_PATH } from '../paths';
import { cloudflareTaskQueue } from '../workflows/triggers';

export interface WorkerSettings {
  temporal: TemporalSettings;
  taskQueue: string;
  keys: EncryptionKeys;
  deps: ActivityDeps;
  /** Shared by every worker polling the Cloudflare queue: the fleet-wide Cloudflare budget. */
  cloudflareActivitiesPerSecond: number;
  /** Use the prebuilt bundle (production) rather than bundling src/workflows at start-up. */
  prebuiltBundle?: boolean;
  logger?: Logger;
}

export interface RunningWorkers {
  /** Resolves when both workers have stopped. */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

function workflowSource(prebuilt: boolean | undefined): Pick<WorkerOptions, 'workflowsPath' | 'workflowBundle'> {
  if (prebuilt) {
    if (!existsSync(WORKFLOW_BUNDLE_PATH)) throw new Error(`no workflow bundle at ${WORKFLOW_BUNDLE_PATH}: run \`npm run build\``);
    return { workflowBundle: { codePath: WORKFLOW_BUNDLE_PATH } };
  }
  return { workflowsPath: require.resolve('../workflows') };
}

/**
 * Two workers on one connection: the main queue runs workflows and light activities; the
 * Cloudflare queue runs only Cloudflare calls, rate-limited across the whole fleet.
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
  const main = await Worker.create({
    ...common,
    taskQueue: settings.taskQueue,
    ...workflowSource(settings.prebuiltBundle),
    activities: createLocalActivities(settings.deps),
  });
  const cloudflare = await Worker.create({
    ...common,
    taskQueue: cloudflareTaskQueue(settings.taskQueue),
    activities: createCloudflareActivities(settings.deps),
    maxTaskQueueActivitiesPerSecond: settings.cloudflareActivitiesPerSecond,
  });
  const done = Promise.all([main.run(), cloudflare.run()]).then(async () => {
    await connection.close();
  });
  return {
    done,
    async shutdown() {
      for (const worker of [main, cloudflare]) if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
