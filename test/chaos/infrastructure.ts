import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client } from 'pg';
import { migrate } from '../../src/db/migrate';
import { resolveTemporalCli } from '../../src/temporal/cli-binary';
import { freePort, startDevServer, type RunningDevServer } from '../../src/temporal/dev-server';
import { startTestPostgres } from '../support/postgres-server';

export interface StandaloneInfrastructure {
  temporalAddress: string;
  /** A migrated database of the run's own. */
  databaseUrl: string;
  /** Present when started `restartable`. */
  services?: RestartableServices;
  stop(): Promise<void>;
}

/** Stopping and starting the run's servers: each comes back on its port with the state it had. */
export interface RestartableServices {
  temporal: { stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>; start(): Promise<void> };
  postgres: { stop(mode: 'fast' | 'immediate'): Promise<void>; start(): Promise<void> };
}

/**
 * What `npm run chaos` runs on when nothing is shared: a throwaway PostgreSQL server (as the
 * `postgres` user when root) and a Temporal dev server, both on loopback. The dev server keeps
 * its state in memory, or, `restartable`, in a SQLite file so it can be stopped and started again.
 */
export async function startStandaloneInfrastructure(options: {
  temporalCliPath?: string;
  restartable?: boolean;
  log: (line: string) => void;
}): Promise<StandaloneInfrastructure> {
  const stops: Array<() => Promise<void> | void> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s();
  };
  try {
    // Restarts include crashes (`stop -m immediate`): commits the workers were told of must survive them.
    const postgres = startTestPostgres(await freePort(), { crashSafe: options.restartable });
    stops.push(postgres.stop);
    const admin = new Client({ connectionString: postgres.url });
    await admin.connect();
    await admin.query('CREATE DATABASE token_warden_chaos');
    await admin.end();
    const url = new URL(postgres.url);
    url.pathname = '/token_warden_chaos';
    await migrate(url.toString());
    options.log(`postgres up at 127.0.0.1:${url.port}`);

    const cli = await resolveTemporalCli({ explicitPath: options.temporalCliPath, log: options.log });
    let dbFile: string | undefined;
    if (options.restartable) {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'token-warden-temporal-'));
      stops.push(() => rmSync(dir, { recursive: true, force: true }));
      dbFile = path.join(dir, 'temporal.db');
    }
    const serverOptions = { cli, port: await freePort(), dbFile };
    let server: RunningDevServer | undefined = await startDevServer(serverOptions);
    stops.push(() => server?.stop());
    options.log(`temporal dev server up at ${server.address}${dbFile ? ` (state in ${dbFile})` : ''}`);
    const services: RestartableServices = {
      temporal: {
        stop: async (signal) => {
          await server?.stop(signal);
          server = undefined;
        },
        start: async () => {
          server ??= await startDevServer(serverOptions);
        },
      },
      postgres: { stop: (mode) => postgres.shutdown(mode), start: () => postgres.start() },
    };
    return {
      temporalAddress: server.address,
      databaseUrl: url.toString(),
      services: options.restartable ? services : undefined,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Ctrl-C or SIGTERM stops the run's Postgres and Temporal children, then exits 130. */
export function stopOnInterrupt(
  current: () => StandaloneInfrastructure | undefined,
  log: (line: string) => void,
): void {
  const interrupted = () => {
    log('interrupted: stopping');
    void (current()?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
}

/** Runs cleanups newest first; one that fails is logged and the others still run. */
export async function runCleanups(cleanups: Array<() => Promise<void>>, log: (line: string) => void): Promise<void> {
  for (const cleanup of cleanups.reverse()) {
    try {
      await cleanup();
    } catch (error) {
      log(`cleanup: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
}
