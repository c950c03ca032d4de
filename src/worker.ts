import { createLogger } from './logger';
import { spawnEmergencyThread } from './runtime/emergency-thread';
import { installTemporalLogger } from './runtime/temporal-logging';
import { onShutdownSignal, runEntrypoint } from './runtime/entrypoint';
import { openRuntime } from './runtime/open-runtime';
import { startRuntimeWorkers } from './runtime/services';
import { upsertSchedules } from './schedules';
import { startWorkerHeartbeat } from './runtime/worker-heartbeat';

/**
 * Production worker process: connects to TEMPORAL_ADDRESS, DATABASE_URL and Cloudflare, makes
 * sure the schedules exist, and runs the workers on the prebuilt workflow bundle when
 * NODE_ENV=production (bundling src/workflows at start-up otherwise).
 */
runEntrypoint('token-warden worker', async () => {
  const logger = createLogger(process.env.LOG_LEVEL ?? 'info', 'token-warden-worker');
  // The emergency lane's thread loads its code while this one opens the runtime.
  const emergencyThread = spawnEmergencyThread();
  installTemporalLogger(logger.child({ component: 'temporal' }));
  const runtime = await openRuntime(process.env, { local: false, logger });
  await upsertSchedules(runtime.client, runtime.env.TEMPORAL_TASK_QUEUE, logger);
  const workers = await startRuntimeWorkers(runtime, {
    prebuiltBundle: process.env.NODE_ENV === 'production',
    emergencyThread,
  });
  // The probes' signal (src/worker-probe.ts): touched while the workers run, removed when they end.
  const heartbeat = startWorkerHeartbeat();
  onShutdownSignal(async () => {
    heartbeat.stop();
    await workers.shutdown();
    await runtime.close();
  });
  try {
    await workers.done;
  } catch (error) {
    // One worker failed and the others were stopped: exit (non-zero, below) so Kubernetes restarts the process.
    logger.fatal({ err: error }, error instanceof Error ? error.message : 'a worker failed');
    throw error;
  } finally {
    heartbeat.stop();
  }
  await runtime.close();
});
