import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { startStack, type Stack } from '../support/stack';

/** DESIGN §5.5: every run leaves its history row, even when Postgres was down while it ran. */
describe('history survives a Postgres outage', () => {
  let stack: Stack;
  let admin: Client;
  let database: string;
  let tokenValue = '';

  beforeAll(async () => {
    stack = await startStack({
      inventory: (sim) => {
        const accountId = sim.state.createAccount({}).id;
        const token = sim.state.createApiToken({ owner: 'user', name: 'u', permissions: ['API Tokens Read'] });
        tokenValue = token.value;
        return {
          accounts: [
            { id: accountId, apiTokens: [{ name: 'user-token', kind: 'user', secretFrom: { env: 'USER_TOKEN' } }] },
          ],
        };
      },
      secretEnv: () => ({ USER_TOKEN: tokenValue }),
    });
    await stack.startWorkers();
    database = new URL(stack.db.url).pathname.slice(1);
    admin = new Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.query(`ALTER DATABASE ${database} WITH ALLOW_CONNECTIONS true`).catch(() => undefined);
    await admin?.end();
    await stack?.close();
  });

  it('keeps the run waiting while the database refuses connections, then writes its row', async () => {
    await admin.query(`ALTER DATABASE ${database} WITH ALLOW_CONNECTIONS false`);
    await admin.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
      [database],
    );
    const handle = await stack.client.workflow.start('verifyApiTokens', {
      taskQueue: stack.taskQueue,
      workflowId: `test/outage/${randomBytes(4).toString('hex')}`,
      args: [{ trigger: { actor: 'api:outage-test' } }],
    });
    await new Promise((r) => setTimeout(r, 4_000));
    expect((await handle.describe()).status.name).toBe('RUNNING'); // the audit write is being retried
    await admin.query(`ALTER DATABASE ${database} WITH ALLOW_CONNECTIONS true`);
    const result = await handle.result();
    expect(result.overallHealth).toBe('healthy');
    const rows = await stack.history.listApiTokenChecks(10, 'verify');
    expect(rows.filter((r) => r.runId === handle.firstExecutionRunId)).toHaveLength(1);
    const audit = await stack.history.listAudit(10);
    expect(audit.filter((a) => a.runId === handle.firstExecutionRunId && a.actor === 'api:outage-test')).toHaveLength(
      1,
    );
  });
});
