import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import { LANES } from '../../src/cloudflare/budget/lanes';
import { cloudflareTaskQueue, emergencyTaskQueue } from '../../src/workflows/triggers';

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, log() {} };

export interface StubWorkers {
  client: Client;
  taskQueue: string;
  close(): Promise<void>;
}

/**
 * src/workflows, bundled once, on the dev server with stub activities: on the main queue, the
 * emergency queue and every lane's Cloudflare queue, as the real workers serve them.
 */
export async function startStubWorkers(prefix: string, activities: object): Promise<StubWorkers> {
  const address = process.env.TEST_TEMPORAL_ADDRESS!;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
  const bundle = await bundleWorkflowCode({ workflowsPath: require.resolve('../../src/workflows'), logger: quiet });
  const connection = await NativeConnection.connect({ address });
  const clientConnection = await Connection.connect({ address });
  const client = new Client({ connection: clientConnection });
  const taskQueue = `${prefix}-${randomBytes(4).toString('hex')}`;
  const workers = await Promise.all([
    Worker.create({ connection, taskQueue, workflowBundle: bundle, activities }),
    Worker.create({ connection, taskQueue: emergencyTaskQueue(taskQueue), workflowBundle: bundle, activities }),
    ...LANES.map((lane) => Worker.create({ connection, taskQueue: cloudflareTaskQueue(taskQueue, lane), activities })),
  ]);
  const running = workers.map((worker) => worker.run());
  return {
    client,
    taskQueue,
    async close() {
      for (const worker of workers) worker.shutdown();
      await Promise.allSettled(running);
      await clientConnection.close();
      await connection.close();
    },
  };
}
