import { parentPort, type MessagePort } from 'node:worker_threads';
import { createLogger } from '../logger';
import { runtimeActivityDeps } from './activity-deps';
import { attachRuntime } from './assemble-runtime';
import type { EmergencyThreadData, FromEmergencyThread, ToEmergencyThread } from './emergency-thread';
import { warmUpEmergencyWorker } from './emergency-warm-up';
import { installTemporalLogger } from './temporal-logging';
import { connectWorkers, createEmergencyWorkers, superviseWorkers, type RunningWorkers } from './workers';

/**
 * The emergency worker's thread (started by emergency-thread.ts): opens the process's runtime
 * again and runs the emergency lane's workers until the main thread asks it to stop. When the
 * worker fails, the thread ends with its error, which stops the process's other workers too.
 */
async function main(port: MessagePort, data: EmergencyThreadData): Promise<void> {
  let stopAsked = false;
  let running: RunningWorkers | undefined;
  port.on('message', (message: ToEmergencyThread) => {
    if (message.type !== 'shutdown') return;
    stopAsked = true;
    void running?.shutdown().catch(() => undefined);
  });
  const logger = createLogger(data.logLevel, 'token-warden-worker', data.logFormat).child({ thread: 'emergency' });
  installTemporalLogger(logger.child({ component: 'temporal' }));
  const runtime = await attachRuntime(data.attachment, logger);
  try {
    const { connection, common } = await connectWorkers(runtime.temporal, runtime.keys);
    const deps = runtimeActivityDeps(runtime)('emergency');
    const workers = await createEmergencyWorkers(common, data.taskQueue, data.workflows, deps);
    if (stopAsked) return;
    running = superviseWorkers(workers, { logger, onStopped: () => connection.close() });
    port.postMessage({ type: 'running' } satisfies FromEmergencyThread);
    void warmUpEmergencyWorker(
      connection,
      { namespace: runtime.temporal.namespace, keys: runtime.keys, taskQueue: data.taskQueue },
      logger,
    );
    await running.done;
  } finally {
    await runtime.close();
  }
}

const port = parentPort;
if (!port) throw new Error('emergency-thread-main runs in a worker thread only');
// Idle until the main thread sends what to open; a failure then becomes the thread's uncaught
// error, which the main thread's supervision receives.
port.once('message', (message: ToEmergencyThread) => {
  if (message.type !== 'start') process.exit(0);
  else
    main(port, message.data).then(
      () => process.exit(0),
      (error: unknown) =>
        setImmediate(() => {
          throw error;
        }),
    );
});
