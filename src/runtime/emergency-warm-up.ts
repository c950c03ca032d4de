import os from 'node:os';
import { Client } from '@temporalio/client';
import type { NativeConnection } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createDataConverter } from '../temporal/data-converter';
import type { EncryptionKeys } from '../temporal/codec';
import { emergencyTaskQueue } from '../workflows/triggers';

/**
 * Runs warmUpEmergencyWorker (src/workflows/warm-up.ts) through the worker that polls
 * `taskQueue`'s emergency queue on `connection`: started eagerly, the server hands its first
 * workflow task back to this process. Where the server does not start workflows eagerly another
 * process's worker may get it; either way nothing is sent to Cloudflare, and a failure only
 * leaves the next revoke to pay for the warm-up.
 */
export async function warmUpEmergencyWorker(
  connection: NativeConnection,
  settings: { namespace: string; keys: EncryptionKeys; taskQueue: string },
  logger: Pick<Logger, 'debug' | 'warn'>,
): Promise<void> {
  const client = new Client({
    connection,
    namespace: settings.namespace,
    dataConverter: createDataConverter(settings.keys),
  });
  try {
    const handle = await client.workflow.start('warmUpEmergencyWorker', {
      taskQueue: emergencyTaskQueue(settings.taskQueue),
      workflowId: `token-warden/warm-up/${os.hostname()}/${process.pid}/${Date.now()}`,
      requestEagerStart: true,
      workflowExecutionTimeout: '1 minute',
    });
    const began = Date.now();
    await handle.result();
    logger.debug({ eagerly: handle.eagerlyStarted, ms: Date.now() - began }, 'emergency worker warmed up');
  } catch (error) {
    logger.warn({ err: error }, 'could not warm up the emergency worker: the next revoke pays for it');
  }
}
