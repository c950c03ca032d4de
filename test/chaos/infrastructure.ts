import { Client } from 'pg';
import { migrate } from '../../src/db/migrate';
import { resolveTemporalCli } from '../../src/temporal/cli-binary';
import { freePort, startDevServer } from '../../src/temporal/dev-server';
import { startTestPostgres } from '../support/postgres-server';

export interface StandaloneInfrastructure {
  temporalAddress: string;
  /** A migrated database of the run's own. */
  databaseUrl: string;
  stop(): Promise<void>;
}

/**
 * What `npm run chaos` runs on when nothing is shared: a throwaway PostgreSQL server (as the
 * `postgres` user when root) and an in-memory Temporal dev server, both on loopback.
 */
export async function startStandaloneInfrastructure(options: { temporalCliPath?: string; log: (line: string) => void }): Promise<StandaloneInfrastructure> {
  const stops: Array<() => Promise<void> | void> = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s();
  };
  try {
    const postgres = startTestPostgres(await freePort());
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
    const server = await startDevServer({ cli, port: await freePort() });
    stops.push(server.stop);
    options.log(`temporal dev server up at ${server.address}`);
    return { temporalAddress: server.address, databaseUrl: url.toString(), stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Ctrl-C or SIGTERM stops the run's Postgres and Temporal children, then exits 130. */
export function stopOnInterrupt(current: () => StandaloneInfrastructure | undefined, log: (line: string) => void): void {
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
