import { randomUUID } from 'node:crypto';
import { Connection, Client as TemporalClient } from '@temporalio/client';
import { Client } from 'pg';
import { startStandaloneInfrastructure, type StandaloneInfrastructure } from './infrastructure';

/** `npm run chaos` restarts its own Temporal and Postgres: each must come back where it was. */
describe('chaos infrastructure: restartable servers', () => {
  let infrastructure: StandaloneInfrastructure | undefined;
  afterAll(async () => infrastructure?.stop());

  it('brings Temporal back on its port with its workflows, and Postgres with its rows, after a crash of each', async () => {
    infrastructure = await startStandaloneInfrastructure({
      temporalCliPath: process.env.TEMPORAL_CLI_PATH,
      restartable: true,
      log: () => undefined,
    });
    const services = infrastructure.services;
    if (!services) throw new Error('a restartable infrastructure has services');

    const connection = await Connection.connect({ address: infrastructure.temporalAddress });
    const db = new Client({ connectionString: infrastructure.databaseUrl });
    db.on('error', () => undefined); // the restart ends this session
    const again = new Client({ connectionString: infrastructure.databaseUrl });
    try {
      const temporal = new TemporalClient({ connection });
      const workflowId = `restart-${randomUUID()}`;
      // No worker polls this queue: the run just waits, in the server's SQLite file.
      const handle = await temporal.workflow.start('nobodyRunsThis', {
        taskQueue: `nobody-${randomUUID()}`,
        workflowId,
      });
      await services.temporal.stop('SIGKILL');
      await services.temporal.start();
      // The same connection, the same address: the client reconnects on its own.
      expect((await temporal.workflow.getHandle(workflowId, handle.firstExecutionRunId).describe()).status.name).toBe(
        'RUNNING',
      );

      await db.connect();
      await db.query('CREATE TABLE restart_probe (id text)');
      await db.query(`INSERT INTO restart_probe VALUES ('kept')`);
      await services.postgres.stop('immediate');
      await services.postgres.start();
      await again.connect();
      // Committed just before the crash: a crash of the server loses no acknowledged commit.
      expect((await again.query('SELECT id FROM restart_probe')).rows).toEqual([{ id: 'kept' }]);
    } finally {
      await again.end().catch(() => undefined);
      await db.end().catch(() => undefined);
      await connection.close();
    }
  }, 120_000);
});
