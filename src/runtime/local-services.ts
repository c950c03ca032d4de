import { existsSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Environment } from '../config';
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../db/embedded';
import { PROJECT_ROOT } from '../paths';
import { resolveTemporalCli } from '../temporal/cli-binary';
import { isPortOpen, startDevServer, type RunningDevServer } from '../temporal/dev-server';
import type { RunningSimulator } from '@token-warden/cloudflare-simulator';
import { demoVariables } from './demo';
import { loadSimulator } from './load-simulator';
import { stopOrphanedDevServer, stopOrphanedPostgres } from './orphaned-process';

/** The Temporal dev server of `npm start`: SQLite under DATA_DIR, so runs survive a restart. */
export async function startLocalTemporal(env: Environment, logger: Logger): Promise<RunningDevServer> {
  const dbFile = path.resolve(env.DATA_DIR, 'temporal.db');
  for (const orphan of await stopOrphanedDevServer(dbFile))
    logger.warn(
      `stopped the Temporal dev server (pid ${orphan}) left running on ${dbFile} by a token-warden that was killed before it could stop it`,
    );
  if (await isPortOpen(env.TEMPORAL_PORT)) {
    throw new Error(
      `port ${env.TEMPORAL_PORT} is already in use: is another token-warden running? Stop it, or set TEMPORAL_ADDRESS=127.0.0.1:${env.TEMPORAL_PORT} to use that server.`,
    );
  }
  const cli = await resolveTemporalCli({ explicitPath: env.TEMPORAL_CLI_PATH, log: (line) => logger.info(line) });
  logger.info({ cli: cli.type === 'path' ? cli.path : 'sdk download' }, 'starting the Temporal dev server');
  return startDevServer({
    cli,
    port: env.TEMPORAL_PORT,
    uiPort: env.TEMPORAL_UI_PORT,
    uiCodecEndpoint: `http://${env.HOST === '0.0.0.0' ? '127.0.0.1' : env.HOST}:${env.PORT}/codec`,
    dbFile,
    namespace: env.TEMPORAL_NAMESPACE,
  });
}

/** A real PostgreSQL on loopback, its cluster and password (a pgpass file) under DATA_DIR. */
export async function startLocalPostgres(env: Environment, logger: Logger): Promise<EmbeddedPostgres> {
  const orphan = await stopOrphanedPostgres(path.resolve(env.DATA_DIR, 'postgres'));
  if (orphan)
    logger.warn(
      `stopped the PostgreSQL (pid ${orphan}) left running on ${env.DATA_DIR}/postgres by a token-warden that was killed before it could stop it`,
    );
  if (await isPortOpen(env.POSTGRES_PORT)) {
    throw new Error(
      `port ${env.POSTGRES_PORT} is already in use: is another token-warden running? Stop it, set POSTGRES_PORT to a free port, or set DATABASE_URL to use that server.`,
    );
  }
  if (existsSync(path.resolve(env.DATA_DIR, 'pglite')))
    logger.warn(
      `${env.DATA_DIR}/pglite holds the former embedded database (PGlite), no longer used: a new PostgreSQL starts empty in ${env.DATA_DIR}/postgres. Remove ${env.DATA_DIR}/pglite when you no longer need it.`,
    );
  return startEmbeddedPostgres({ dataDir: env.DATA_DIR, port: env.POSTGRES_PORT });
}

export interface LocalCloudflare {
  baseURL: string;
  origin: string;
  apiToken: string;
  /** Values the demo inventory refers to: account id, the demo API tokens' values. */
  variables: Record<string, string>;
  demoInventoryFile: string;
  simulator: RunningSimulator;
  close(): Promise<void>;
}

/** The Cloudflare simulator, seeded once with the demo account and kept under DATA_DIR. */
export async function startLocalCloudflare(env: Environment, logger: Logger): Promise<LocalCloudflare> {
  const { startSimulator } = await loadSimulator();
  const simulator = await startSimulator({
    port: env.SIMULATOR_PORT,
    stateFile: path.resolve(env.DATA_DIR, 'cloudflare-simulator.json'),
    seed: 'demo',
    logger: false,
  });
  const wardenToken = simulator.demo?.apiTokens.warden.value;
  if (!wardenToken) {
    await simulator.close();
    throw new Error(
      `the simulator's demo state in ${env.DATA_DIR} has no usable token-warden API token; remove ${env.DATA_DIR}/cloudflare-simulator.json to reseed it`,
    );
  }
  logger.warn(
    { baseURL: simulator.baseURL },
    'CLOUDFLARE_API_TOKEN is not set: Cloudflare is SIMULATED (a local simulator with demo tokens); nothing touches a real account',
  );
  return {
    baseURL: simulator.baseURL,
    origin: simulator.origin,
    apiToken: wardenToken,
    variables: demoVariables(simulator, env.DATA_DIR),
    demoInventoryFile: path.join(PROJECT_ROOT, 'config', 'demo.inventory.yaml'),
    simulator,
    close: () => simulator.close(),
  };
}
