import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createDataConverter } from '../../src/temporal/data-converter';
import type { EncryptionKeys } from '../../src/temporal/codec';
import type { benchFloor } from './floor-workflow';
import { floorSignal } from './floor-workflow';
import type { RequestLog } from './request-log';

export interface FloorActivities {
  /** One HTTP request; its answer does not matter (the simulator refuses it: no credentials). */
  callSimulator(url: string): Promise<number>;
}

export const floorActivities: FloorActivities = {
  async callSimulator(url) {
    const response = await fetch(url);
    await response.arrayBuffer();
    return response.status;
  },
};

export interface FloorWorker {
  taskQueue: string;
  /**
   * signalWithStart of the floor workflow → its request arriving at the simulator, in ms (null
   * when it never came within `timeoutMs`).
   */
  measure(timeoutMs: number): Promise<number | null>;
  shutdown(): Promise<void>;
}

/**
 * The floor's own worker in the bench process, on its own task queue, with the payload codec the
 * workers use (so the floor pays for encryption as a revoke does). Its request goes to a service
 * token path that names the measurement, without credentials: the simulator counts it against the
 * client address, never against the user's allowance, and answers 400.
 */
export async function startFloorWorker(options: {
  address: string;
  client: Client;
  keys: EncryptionKeys;
  baseURL: string;
  accountId: string;
  requests: RequestLog;
}): Promise<FloorWorker> {
  const taskQueue = `tw-bench-floor-${randomBytes(4).toString('hex')}`;
  const connection = await NativeConnection.connect({ address: options.address });
  const worker = await Worker.create({
    connection,
    namespace: 'default',
    taskQueue,
    workflowsPath: require.resolve('./floor-workflow'),
    activities: floorActivities,
    dataConverter: createDataConverter(options.keys),
  });
  const running = worker.run();
  let n = 0;
  const floor: FloorWorker = {
    taskQueue,
    async measure(timeoutMs) {
      const id = `bench-floor-${randomBytes(6).toString('hex')}-${n++}`;
      const path = `/accounts/${options.accountId}/access/service_tokens/${id}`;
      const arrived = options.requests.next((event) => event.path === path, timeoutMs);
      const began = Date.now();
      await options.client.workflow.signalWithStart<typeof benchFloor, []>('benchFloor', {
        taskQueue,
        workflowId: id,
        args: [{ url: `${options.baseURL}${path}` }],
        signal: floorSignal,
        signalArgs: [],
      });
      const event = await arrived;
      return event ? event.at - began : null;
    },
    async shutdown() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
  // The worker's first workflow task loads the bundle and builds its sandbox: not part of any floor.
  await floor.measure(60_000);
  return floor;
}
