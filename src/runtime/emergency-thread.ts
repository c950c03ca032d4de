import path from 'node:path';
import { Worker as Thread } from 'node:worker_threads';
import type { WorkerOptions } from '@temporalio/worker';
import type { Logger } from 'pino';
import { defaultLogFormat, type LogFormat } from '../logger';
import type { RuntimeAttachment } from './assemble-runtime';
import type { SupervisedWorker } from './workers';

/** What the emergency thread is started with: plain data, cloned into the thread. */
export interface EmergencyThreadData {
  attachment: RuntimeAttachment;
  /** The main task queue; the thread polls its emergency queue. */
  taskQueue: string;
  workflows: Pick<WorkerOptions, 'workflowBundle'>;
  logLevel: string;
  logFormat: LogFormat;
}

/** Messages between the threads: the main thread's start and shutdown, the emergency thread's "running". */
export type ToEmergencyThread = { type: 'start'; data: EmergencyThreadData } | { type: 'shutdown' };
export type FromEmergencyThread = { type: 'running' };

export interface StartEmergencyThread {
  attachment: RuntimeAttachment;
  taskQueue: string;
  workflows: Pick<WorkerOptions, 'workflowBundle'>;
  logger?: Logger;
}

/** A thread spawned ahead of its work (see spawnEmergencyThread). */
export interface SpawnedEmergencyThread {
  /** Opens the runtime in the thread and runs its workers; resolves once they poll. */
  start(options: StartEmergencyThread): Promise<SupervisedWorker>;
}

/** The thread's entry: the compiled file in dist/, or the TypeScript source compiled by tsx as it loads (tsx, jest). */
function newThread(): Thread {
  const extension = path.extname(__filename);
  const file = path.join(__dirname, `emergency-thread-main${extension}`);
  if (extension !== '.ts') return new Thread(file);
  return new Thread(`require('tsx/cjs/api').register(); require(${JSON.stringify(file)});`, { eval: true });
}

/**
 * The emergency lane's workers in a worker thread of this process, with their own event loop,
 * Temporal connection and Postgres pools (src/runtime/emergency-thread-main.ts). A fleet's
 * workflow activations and Cloudflare calls can keep this thread's event loop busy for hundreds
 * of milliseconds; a revoke's workflow task waited behind them. The thread exists from now on,
 * loading its code while this thread opens the runtime, and keeps the process alive only once
 * started.
 */
export function spawnEmergencyThread(): SpawnedEmergencyThread {
  const thread = newThread();
  thread.unref();
  let state: 'SPAWNED' | 'STARTING' | 'RUNNING' | 'STOPPING' | 'STOPPED' | 'FAILED' = 'SPAWNED';
  let failure: Error | undefined;
  const ended = new Promise<void>((resolve, reject) => {
    thread.on('error', (error) => (failure ??= error));
    thread.on('exit', (code) => {
      if (failure || code !== 0 || state === 'SPAWNED') {
        state = 'FAILED';
        reject(failure ?? new Error(`the emergency workers' thread exited with code ${code}`));
      } else {
        state = 'STOPPED';
        resolve();
      }
    });
  });
  ended.catch(() => undefined);
  const tell = (message: ToEmergencyThread) => thread.postMessage(message);
  const worker: SupervisedWorker = {
    run: () => ended,
    shutdown() {
      if (state !== 'RUNNING' && state !== 'STARTING') return;
      state = 'STOPPING';
      tell({ type: 'shutdown' });
    },
    getState: () => state,
  };
  return {
    start(options) {
      if (state !== 'SPAWNED') return Promise.reject(new Error('the emergency thread was started already'));
      state = 'STARTING';
      thread.ref();
      tell({
        type: 'start',
        data: {
          attachment: options.attachment,
          taskQueue: options.taskQueue,
          workflows: options.workflows,
          logLevel: options.logger?.level ?? options.attachment.rawEnv.LOG_LEVEL ?? 'info',
          logFormat: defaultLogFormat(options.attachment.rawEnv),
        },
      });
      return new Promise<SupervisedWorker>((resolve, reject) => {
        thread.on('message', (message: FromEmergencyThread) => {
          if (message.type !== 'running') return;
          if (state === 'STARTING') state = 'RUNNING';
          resolve(worker);
        });
        ended.then(
          () => reject(new Error("the emergency workers' thread ended before they ran")),
          (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
        );
      });
    },
  };
}
