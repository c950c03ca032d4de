import { randomBytes } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { SCHEDULES, upsertSchedules, type ScheduleDefinition } from '../../src/schedules';

/**
 * Worker replicas start together (a Kubernetes rollout, two processes of a compose stack) and
 * each makes sure the schedules exist; none may fail because another got there first, or
 * because an operator deleted a schedule in between.
 */
describe('upsertSchedules from several processes at once', () => {
  let connection: Connection;
  let client: Client;
  let definitions: ScheduleDefinition[];

  beforeAll(async () => {
    connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    client = new Client({ connection });
    const prefix = `test/concurrent-${randomBytes(4).toString('hex')}`;
    definitions = SCHEDULES.map((s) => ({ ...s, id: `${prefix}/${s.id}`, cron: '0 0 1 1 *' }));
  });

  afterAll(async () => {
    for (const d of definitions)
      await client.schedule
        .getHandle(d.id)
        .delete()
        .catch(() => undefined);
    await connection.close();
  });

  it('six starts and deletes racing: every start succeeds and the schedules end up as defined', async () => {
    // An operator (or a test stack's clean-up) deleting them the whole time.
    let starting = true;
    const deleter = (async () => {
      while (starting) {
        for (const d of definitions)
          await client.schedule
            .getHandle(d.id)
            .delete()
            .catch(() => undefined);
      }
    })();
    const starts = await Promise.allSettled(
      Array.from({ length: 6 }, () => upsertSchedules(client, 'queue-a', undefined, definitions)),
    );
    starting = false;
    await deleter;
    const failures = starts.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    expect(failures.map((error) => `${error.message} (${String(error.cause ?? '')})`)).toEqual([]);

    await upsertSchedules(client, 'queue-b', undefined, definitions);
    for (const d of definitions) {
      const description = await client.schedule.getHandle(d.id).describe();
      expect(description.action).toMatchObject({
        type: 'startWorkflow',
        workflowType: d.workflowType,
        taskQueue: 'queue-b',
      });
    }
  });
});
