import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import pino from 'pino';
import type { Environment } from '../../src/config';
import { alive } from '../../src/runtime/orphaned-process';
import { startLocalPostgres } from '../../src/runtime/local-services';
import { freePort } from '../../src/temporal/dev-server';
import { exited, startInChild } from './child-process';

function serverPid(dataDir: string): number {
  return Number(readFileSync(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').split('\n')[0]);
}

describe("npm start's PostgreSQL after token-warden was killed", () => {
  let dataDir: string;
  let env: Environment;

  beforeEach(async () => {
    dataDir = mkdtempSync(path.join(os.tmpdir(), 'tw-orphan-'));
    env = { DATA_DIR: dataDir, POSTGRES_PORT: await freePort() } as Environment;
  });
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  const childEnv = () => ({ DATA_DIR: env.DATA_DIR, POSTGRES_PORT: String(env.POSTGRES_PORT) });

  it('starts again on the same data: the server a SIGKILLed token-warden left running is shut down first', async () => {
    const first = await startInChild('local-postgres-child.ts', childEnv());
    const orphan = serverPid(dataDir);
    first.kill('SIGKILL');
    await exited(first);
    expect(alive(orphan)).toBe(true); // its own process group: the kill did not reach it

    const warnings: string[] = [];
    const logger = pino({ level: 'warn' }, { write: (line: string) => warnings.push(JSON.parse(line).msg) });
    const postgres = await startLocalPostgres(env, logger);
    try {
      expect(alive(orphan)).toBe(false);
      expect(serverPid(dataDir)).not.toBe(orphan);
      expect(warnings.join('\n')).toContain(`stopped the PostgreSQL (pid ${orphan})`);
      const client = new Client({ connectionString: postgres.url });
      await client.connect();
      expect((await client.query('select 1 as one')).rows).toEqual([{ one: 1 }]);
      await client.end();
    } finally {
      await postgres.close();
    }
  });

  it('refuses data a running token-warden is using, and leaves its server alone', async () => {
    const first = await startInChild('local-postgres-child.ts', childEnv());
    const running = serverPid(dataDir);
    try {
      await expect(startLocalPostgres(env, pino({ level: 'silent' }))).rejects.toThrow(
        `in use by PostgreSQL (pid ${running}) of another running process (pid ${first.pid})`,
      );
      expect(alive(running)).toBe(true);
    } finally {
      first.kill('SIGTERM');
      await exited(first);
    }
    expect(alive(running)).toBe(false);
  });
});
