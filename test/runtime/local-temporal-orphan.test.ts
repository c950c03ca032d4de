import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import pino from 'pino';
import type { Environment } from '../../src/config';
import { startLocalTemporal } from '../../src/runtime/local-services';
import { alive, processesWith } from '../../src/runtime/orphaned-process';
import { freePort } from '../../src/temporal/dev-server';
import { exited, startInChild } from './child-process';

jest.setTimeout(120_000);

describe("npm start's Temporal dev server after token-warden was killed", () => {
  let dataDir: string;
  let env: Environment;
  let dbFile: string;

  beforeEach(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'tw-orphan-temporal-'));
    dbFile = path.resolve(dataDir, 'temporal.db');
    env = {
      DATA_DIR: dataDir,
      TEMPORAL_PORT: await freePort(),
      TEMPORAL_NAMESPACE: 'default',
      HOST: '127.0.0.1',
      PORT: 3000,
    } as Environment;
  });
  afterEach(async () => {
    for (const pid of await processesWith('--db-filename', dbFile)) process.kill(pid, 'SIGKILL');
    rmSync(dataDir, { recursive: true, force: true });
  });

  const childEnv = () => ({ DATA_DIR: env.DATA_DIR, TEMPORAL_PORT: String(env.TEMPORAL_PORT) });

  it('starts again on the same data: the dev server a SIGKILLed token-warden left running is stopped first', async () => {
    const first = await startInChild('local-temporal-child.ts', childEnv());
    const orphan = (await processesWith('--db-filename', dbFile))[0]!;
    expect(orphan).toBeGreaterThan(0);
    first.kill('SIGKILL');
    await exited(first);
    expect(alive(orphan)).toBe(true); // the kill did not reach it: it still holds the port

    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line).msg) });
    const server = await startLocalTemporal(env, logger);
    try {
      expect(alive(orphan)).toBe(false);
      expect(await processesWith('--db-filename', dbFile)).not.toContain(orphan);
      expect(warnings.join('\n')).toContain(`stopped the Temporal dev server (pid ${orphan})`);
      const connection = await Connection.connect({ address: server.address });
      await connection.workflowService.getSystemInfo({});
      await connection.close();
    } finally {
      await server.stop();
    }
  });

  it('refuses data a running token-warden is using, and leaves its dev server alone', async () => {
    const first = await startInChild('local-temporal-child.ts', childEnv());
    const running = (await processesWith('--db-filename', dbFile))[0]!;
    try {
      await expect(startLocalTemporal(env, pino({ level: 'silent' }))).rejects.toThrow(
        `in use by the Temporal dev server (pid ${running}) of another running process (pid ${first.pid})`,
      );
      expect(alive(running)).toBe(true);
    } finally {
      first.kill('SIGTERM');
      await exited(first);
    }
    expect(alive(running)).toBe(false);
  });
});
