import { randomBytes } from 'node:crypto';
import type { Client } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import { createDataConverter } from '../../../src/temporal/data-converter';
import type { EncryptionKeys } from '../../../src/temporal/codec';
import type { benchSixNoOps } from './no-op-workflow';

export interface NoOpActivities {
  noOp(step: number): Promise<number>;
}

export interface RotationFloor {
  /** One run of the bare workflow, start → result, in ms. */
  measure(): Promise<number>;
  shutdown(): Promise<void>;
}

/**
 * P3's floor worker in the bench process, on its own task queue of the same dev server, with the
 * workers' payload codec (as the floor of the emergency revoke, test/bench/floor.ts).
 */
export async function startRotationFloor(options: {
  address: string;
  client: Client;
  keys: EncryptionKeys;
}): Promise<RotationFloor> {
  const taskQueue = `tw-bench-speed-floor-${randomBytes(4).toString('hex')}`;
  const connection = await NativeConnection.connect({ address: options.address });
  const activities: NoOpActivities = { noOp: async (step) => step };
  const worker = await Worker.create({
    connection,
    namespace: 'default',
    taskQueue,
    workflowsPath: require.resolve('./no-op-workflow'),
    activities,
    dataConverter: createDataConverter(options.keys),
  });
  const running = worker.run();
  let n = 0;
  const floor: RotationFloor = {
    async measure() {
      const began = Date.now();
      await options.client.workflow.execute<typeof benchSixNoOps>('benchSixNoOps', {
        taskQueue,
        workflowId: `bench-speed-floor-${randomBytes(6).toString('hex')}-${n++}`,
      });
      return Date.now() - began;
    },
    async shutdown() {
      worker.shutdown();
      await running;
      await connection.close();
    },
  };
  // The first workflow task loads the bundle and builds its sandbox: not part of any floor.
  await floor.measure();
  return floor;
}
