import { Client } from 'pg';
import { rotationWorkflowId } from '../../src/inventory';
import {
  emergencyRevokeSignal,
  rotateServiceToken,
  type RotationResult,
} from '../../src/workflows/rotation/rotate-service-token';
import { startRotationFixture, type RotationFixture } from '../support/rotation-fixture';

/** How soon a revoke must kill the compromised secret, Postgres up or down. */
const REVOKE_BOUND_MS = 10_000;

/**
 * DESIGN §5.6 and §5.5 on the real stack: an emergency revoke reaches Cloudflare within seconds
 * while Postgres is down and a rotation of the token is stuck on its history; the rows appear
 * once Postgres is back. A row Postgres refuses for its data never wedges a token.
 */
describe('emergency revoke while Postgres is down or refuses a row, on the real stack', () => {
  let f: RotationFixture;
  let admin: Client;
  let database: string;

  beforeAll(async () => {
    f = await startRotationFixture([
      { name: 'control', strategy: 'rotate-secret', stores: 'file' },
      { name: 'stuck', strategy: 'rotate-secret', stores: 'file', propagationWait: '1 hour' },
      { name: 'nul-reason', strategy: 'rotate-secret', stores: 'file' },
    ]);
    database = new URL(f.stack.db.url).pathname.slice(1);
    admin = new Client({ connectionString: process.env.TEST_DATABASE_URL });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.query(`ALTER DATABASE ${database} WITH ALLOW_CONNECTIONS true`).catch(() => undefined);
    await admin?.end();
    await f?.close();
  });

  const postgres = {
    async stop() {
      await admin.query(`ALTER DATABASE ${database} WITH ALLOW_CONNECTIONS false`);
      await admin.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
        [database],
      );
    },
    async start() {
      await admin.query(`ALTER DATABASE ${database} WITH ALLOW_CONNECTIONS true`);
    },
  };

  const revoke = (name: string, reason: string) =>
    f.stack.client.workflow.signalWithStart(rotateServiceToken, {
      taskQueue: f.stack.taskQueue,
      workflowId: rotationWorkflowId(f.accountId, name),
      args: [
        { accountId: f.accountId, tokenName: name, mode: 'emergency', trigger: { actor: 'api:security', reason } },
      ],
      signal: emergencyRevokeSignal,
      signalArgs: [{ actor: 'api:security', reason }],
    });

  /** Milliseconds until Cloudflare stops accepting what the stores held when this was called. */
  async function timeToKill(name: string, act: () => Promise<unknown>): Promise<number> {
    const compromised = f.fileCredential(name);
    expect(f.stack.sim.state.isServiceTokenCredentialValid(compromised.clientId, compromised.clientSecret)).toBe(true);
    const started = Date.now();
    await act();
    while (f.stack.sim.state.isServiceTokenCredentialValid(compromised.clientId, compromised.clientSecret)) {
      if (Date.now() - started > 60_000) return Infinity;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return Date.now() - started;
  }

  it('kills the compromised secret within the same bound with Postgres down and a rotation stuck on it as with Postgres up, and writes the rows once it is back', async () => {
    const withPostgres = await timeToKill('control', () => revoke('control', 'bound with Postgres up'));
    expect(withPostgres).toBeLessThan(REVOKE_BOUND_MS);
    await expect(f.waitForRotation(rotationWorkflowId(f.accountId, 'control'))).resolves.toMatchObject({
      status: 'completed',
      emergency: true,
    });

    await postgres.stop();
    let restarted = false;
    try {
      const stuck = await f.stack.client.workflow.start(rotateServiceToken, {
        taskQueue: f.stack.taskQueue,
        workflowId: rotationWorkflowId(f.accountId, 'stuck'),
        args: [
          {
            accountId: f.accountId,
            tokenName: 'stuck',
            mode: 'manual',
            trigger: { actor: 'api:operator', reason: 'monthly' },
          },
        ],
      });
      // The run waits for Postgres (its plan and history), as it must.
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      expect((await stuck.describe()).status.name).toBe('RUNNING');

      const withoutPostgres = await timeToKill('stuck', () => revoke('stuck', 'leaked while the database was down'));
      expect(withoutPostgres).toBeLessThan(REVOKE_BOUND_MS);

      await postgres.start();
      restarted = true;
      const result = (await stuck.result()) as RotationResult;
      expect(result).toMatchObject({ status: 'completed', emergency: true, strategy: 'rotate-secret' });
      // Every trigger's audit row and the run's history, written once Postgres was back.
      const audit = (await f.stack.history.listAudit(50, 'stuck')).filter((a) => a.runId === stuck.firstExecutionRunId);
      expect(audit.map((a) => [a.action, a.actor]).sort()).toEqual([
        ['revoke.signal', 'api:security'],
        ['rotate.manual', 'api:operator'],
      ]);
      const [row] = await f.stack.rotations.listRotations({ tokenName: 'stuck', limit: 1 });
      expect(row).toMatchObject({
        runId: stuck.firstExecutionRunId,
        status: 'completed',
        outcome: expect.objectContaining({ revokedBy: 'api:security' }),
      });
      expect(row?.steps.map((s) => s.step).slice(0, 2)).toEqual(['resolve', 'issue']);
      // The stores hold the new credential, which works; the one they held before is dead.
      expect(await f.probe(f.fileCredential('stuck'))).toBe(200);
    } finally {
      if (!restarted) await postgres.start();
    }
  }, 120_000);

  it('does not wedge a token on a reason Postgres cannot store: the run completes, the row is stored cleaned, and a later revoke works', async () => {
    const reason = 'pasted \u0000 in a ticket';
    const handle = await f.stack.client.workflow.start(rotateServiceToken, {
      taskQueue: f.stack.taskQueue,
      workflowId: rotationWorkflowId(f.accountId, 'nul-reason'),
      args: [
        { accountId: f.accountId, tokenName: 'nul-reason', mode: 'manual', trigger: { actor: 'api:operator', reason } },
      ],
    });
    await expect(handle.result()).resolves.toMatchObject({ status: 'completed' });
    const [audit] = (await f.stack.history.listAudit(50, 'nul-reason')).filter(
      (a) => a.runId === handle.firstExecutionRunId,
    );
    expect(audit?.details).toMatchObject({ reason: 'pasted \uFFFD in a ticket' });

    const killed = await timeToKill('nul-reason', () => revoke('nul-reason', reason));
    expect(killed).toBeLessThan(REVOKE_BOUND_MS);
    await expect(f.waitForRotation(rotationWorkflowId(f.accountId, 'nul-reason'))).resolves.toMatchObject({
      status: 'completed',
      emergency: true,
    });
    const [row] = await f.stack.rotations.listRotations({ tokenName: 'nul-reason', limit: 1 });
    expect(row).toMatchObject({
      status: 'completed',
      outcome: expect.objectContaining({
        revokeReason: 'pasted \uFFFD in a ticket',
        historyProblems: expect.any(Array),
      }),
    });
  }, 120_000);
});
