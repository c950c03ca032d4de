import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { stringify } from 'yaml';
import { startSimulator, type RunningSimulator } from '@token-warden/cloudflare-simulator';
import { SCHEDULES } from '../../src/schedules';
import { createPendingSecretStore } from '../../src/secrets/pending-secrets';
import { createSecretBox } from '../../src/secrets/secret-box';
import { parseCredentialFile } from '../../src/stores/file-format';
import { createTemporalClient } from '../../src/temporal/connection';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { RestartableChild } from '../support/processes';

/**
 * Production as docker-compose runs it: `src/worker.ts` and `src/api/server.ts` as two
 * processes configured only by environment, against real Postgres, Temporal and the simulator.
 */
describe('the worker and API processes', () => {
  let dir: string;
  let sim: RunningSimulator;
  let db: TestDatabase;
  let worker: RestartableChild;
  let api: RestartableChild;
  let apiUrl: Promise<string>;
  const output: Record<'worker' | 'api', string[]> = { worker: [], api: [] };
  const clientToken = randomBytes(24).toString('base64url');
  const auth = { authorization: `Bearer ${clientToken}` };
  const key = randomBytes(32);
  const taskQueue = `tw-deploy-${randomBytes(5).toString('hex')}`;
  let credentialFile: string;
  let initialSecret: string;
  let probeUrl: string;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'tw-deploy-'));
    sim = await startSimulator({ port: 0, seed: 'demo' });
    db = await createTestDatabase();
    const accountId = sim.demo!.accountId;
    const token = sim.state.createServiceToken({ accountId, name: 'deploy-check', duration: '8760h' });
    initialSecret = token.clientSecret;
    const app = sim.state.createAccessApp({ accountId, name: 'deploy probe', domain: 'deploy.token-warden.example' });
    sim.state.createAccessPolicy({
      accountId,
      name: 'deploy consumers',
      decision: 'non_identity',
      include: [{ service_token: { token_id: token.id } }],
      attachTo: [app.id],
    });

    // Adoption as an operator does it: the store holds the current credential, recorded as current.
    credentialFile = path.join(dir, 'deploy-check.env');
    writeFileSync(
      credentialFile,
      `CF_ACCESS_CLIENT_ID=${token.clientId}\nCF_ACCESS_CLIENT_SECRET=${token.clientSecret}\n`,
      { mode: 0o600 },
    );
    const keys = { currentKeyId: 'deploy', keys: new Map([['deploy', key]]) };
    await createPendingSecretStore(db.pool, createSecretBox(keys)).setCurrent(
      { accountId, tokenName: 'deploy-check' },
      { clientId: token.clientId, clientSecret: token.clientSecret },
    );
    probeUrl = sim.probeUrl(app.id);
    const inventory = {
      accounts: [
        {
          id: accountId,
          name: 'deploy',
          serviceTokens: [
            {
              name: 'deploy-check',
              strategy: 'rotate-secret',
              overlap: '2s',
              propagationWait: '1s',
              duration: '8760h',
              probeUrl,
              targets: [{ kind: 'file', path: credentialFile }],
            },
          ],
        },
      ],
    };
    writeFileSync(path.join(dir, 'inventory.yaml'), stringify(inventory), { mode: 0o600 });

    const env = {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? dir,
      NODE_ENV: 'development',
      LOG_LEVEL: 'info',
      DATA_DIR: path.join(dir, 'data'),
      TEMPORAL_ADDRESS: process.env.TEST_TEMPORAL_ADDRESS!,
      TEMPORAL_TASK_QUEUE: taskQueue,
      DATABASE_URL: db.url,
      CLOUDFLARE_API_TOKEN: sim.demo!.apiTokens.warden.value!,
      CLOUDFLARE_BASE_URL: sim.baseURL,
      TOKEN_WARDEN_INVENTORY: path.join(dir, 'inventory.yaml'),
      TOKEN_WARDEN_ENCRYPTION_KEY: key.toString('base64'),
      TOKEN_WARDEN_ENCRYPTION_KEY_ID: 'deploy',
    };
    worker = new RestartableChild({
      name: 'worker',
      entry: 'src/worker.ts',
      env,
      logFile: path.join(dir, 'worker.log'),
      onOutputLine: (line) => output.worker.push(line),
    });
    let listening: (url: string) => void;
    apiUrl = new Promise((resolve) => (listening = resolve));
    api = new RestartableChild({
      name: 'api',
      entry: 'src/api/server.ts',
      env: { ...env, HOST: '127.0.0.1', PORT: '0', CLIENT_AUTH_TOKEN: clientToken },
      logFile: path.join(dir, 'api.log'),
      onOutputLine: (line) => {
        output.api.push(line);
        const match = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(line);
        if (match) listening(match[1]!);
      },
    });
    worker.start();
    api.start();
  }, 60_000);

  afterAll(async () => {
    worker?.killNow();
    api?.killNow();
    // The worker creates the production schedules on start; they point at this suite's task queue.
    const connection = await Connection.connect({ address: process.env.TEST_TEMPORAL_ADDRESS! });
    const client = createTemporalClient(connection, 'default', {
      currentKeyId: 'deploy',
      keys: new Map([['deploy', key]]),
    });
    for (const schedule of SCHEDULES)
      await client.schedule
        .getHandle(schedule.id)
        .delete()
        .catch(() => undefined);
    await connection.close();
    await sim?.close();
    await db?.drop();
    rmSync(dir, { recursive: true, force: true });
  });

  const call = async (method: string, route: string) => {
    const response = await fetch(`${await apiUrl}${route}`, { method, headers: auth });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };

  it('rotate a token end to end: API process starts it, worker process runs it', async () => {
    const ready = await call('GET', '/ready');
    expect(ready.status).toBe(200);

    const started = await call('POST', '/service-tokens/deploy-check/rotate');
    expect(started.status).toBe(202);
    const workflowId = (started.body.data as { workflow_id: string }).workflow_id;

    let status = '';
    for (let i = 0; i < 120 && status !== 'COMPLETED'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      if (!worker.running())
        throw new Error(
          `the worker exited (${JSON.stringify(worker.lastExit)}):\n${output.worker.slice(-20).join('\n')}`,
        );
      const run = await call('GET', `/workflows/${encodeURIComponent(workflowId)}`);
      status = (run.body.data as { status: string }).status;
      expect(['RUNNING', 'COMPLETED']).toContain(status);
    }
    expect(status).toBe('COMPLETED');

    const held = parseCredentialFile(readFileSync(credentialFile, 'utf8'), 'env', {
      clientId: 'CF_ACCESS_CLIENT_ID',
      clientSecret: 'CF_ACCESS_CLIENT_SECRET',
    });
    expect(held.clientSecret).toEqual(expect.any(String));
    expect(held.clientSecret).not.toBe(initialSecret);
    const probe = await fetch(probeUrl, {
      headers: { 'cf-access-client-id': held.clientId!, 'cf-access-client-secret': held.clientSecret! },
    });
    expect(probe.status).toBe(200);
    const rotations = await call('GET', '/rotations?token=deploy-check');
    expect((rotations.body.data as { rotations: Array<{ status: string }> }).rotations.map((r) => r.status)).toEqual([
      'completed',
    ]);
  }, 90_000);

  it('both stop cleanly on SIGTERM: exit 0, nothing closed twice, no errors', async () => {
    for (const child of [api, worker]) {
      await child.stop('SIGTERM');
      expect(child.lastExit).toEqual({ code: 0, signal: null });
    }
    for (const lines of Object.values(output)) {
      const problems = lines.filter((line) => /more than once|"level":(50|60)|failed:|Error:/.test(line));
      expect(problems).toEqual([]);
    }
  }, 60_000);
});
