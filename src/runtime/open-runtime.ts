import type { Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { ConfigError, parseEnvironment, type Environment } from '../config';
import { migrate } from '../db/migrate';
import { connectTemporal, type TemporalSettings } from '../temporal/connection';
import { loadEncryptionKeys } from '../temporal/encryption-keys';
import { ensureSearchAttributes } from '../temporal/ensure-search-attributes';
import { startLocalCloudflare, startLocalPostgres, startLocalTemporal } from './local-services';
import type { Phase } from './startup-phases';
import { assembleRuntime, closeOnce, type RawEnv, type Runtime } from './assemble-runtime';
import { configuredWardenToken, fixedWardenToken } from './warden-token';

export type { Runtime } from './assemble-runtime';

export interface OpenRuntimeOptions {
  /** `npm start`: start a dev server, embedded Postgres and the simulator for what is unset. */
  local: boolean;
  logger: Logger;
  /** Times each start-up phase (one log line each); by default they just run. */
  phase?: Phase;
}

type Closers = Array<() => Promise<void>>;

interface CloudflareSide {
  cloudflare: Runtime['cloudflare'];
  secretEnv: RawEnv;
  inventoryFile: string | undefined;
  urls: Record<string, string>;
}

/** Cloudflare: the real API, or the seeded simulator with the demo inventory. */
async function openCloudflare(
  env: Environment,
  rawEnv: RawEnv,
  logger: Logger,
  closers: Closers,
): Promise<CloudflareSide> {
  const configured = configuredWardenToken(env);
  if (configured)
    return {
      cloudflare: { token: configured, baseURL: env.CLOUDFLARE_BASE_URL, simulated: false },
      secretEnv: rawEnv,
      inventoryFile: env.TOKEN_WARDEN_INVENTORY,
      urls: {},
    };
  const simulator = await startLocalCloudflare(env, logger);
  closers.push(simulator.close);
  return {
    cloudflare: {
      token: fixedWardenToken(simulator.apiToken, 'the simulator'),
      baseURL: simulator.baseURL,
      simulated: true,
      simulator: simulator.simulator,
    },
    secretEnv: { ...simulator.variables, ...rawEnv },
    inventoryFile: env.TOKEN_WARDEN_INVENTORY ?? simulator.demoInventoryFile,
    urls: { 'Cloudflare simulator': simulator.baseURL },
  };
}

interface PostgresSide {
  databaseUrl: string;
  urls: Record<string, string>;
}

/** Postgres: DATABASE_URL, or a real PostgreSQL embedded under DATA_DIR; migrated either way. */
async function openPostgres(env: Environment, logger: Logger, closers: Closers, phase: Phase): Promise<PostgresSide> {
  let databaseUrl = env.DATABASE_URL;
  const urls: Record<string, string> = {};
  if (!databaseUrl) {
    const embedded = await phase('Postgres', () => startLocalPostgres(env, logger));
    closers.push(embedded.close);
    databaseUrl = embedded.url;
    urls['Postgres (embedded)'] = embedded.publicUrl;
  }
  const url = databaseUrl;
  await phase('migrations', () => migrate(url, logger));
  return { databaseUrl, urls };
}

interface TemporalSide {
  temporal: TemporalSettings;
  connection: Connection;
  urls: Record<string, string>;
}

/** Temporal: TEMPORAL_ADDRESS, or the CLI's dev server with its Web UI. */
async function openTemporal(env: Environment, logger: Logger, closers: Closers): Promise<TemporalSide> {
  let temporal: TemporalSettings = {
    address: env.TEMPORAL_ADDRESS ?? '',
    namespace: env.TEMPORAL_NAMESPACE,
    apiKey: env.TEMPORAL_API_KEY,
    tls: env.TEMPORAL_TLS,
  };
  const urls: Record<string, string> = {};
  if (!env.TEMPORAL_ADDRESS) {
    const server = await startLocalTemporal(env, logger);
    closers.push(server.stop);
    temporal = { address: server.address, namespace: env.TEMPORAL_NAMESPACE };
    if (server.uiUrl) urls['Temporal UI'] = server.uiUrl;
  }
  urls['Temporal (gRPC)'] = `${temporal.address}   (namespace ${temporal.namespace})`;
  const connection = await connectTemporal(temporal);
  closers.push(() => connection.close());
  await ensureSearchAttributes(connection, temporal.namespace);
  return { temporal, connection, urls };
}

/**
 * Connects to (or, locally, starts) Temporal, Postgres and Cloudflare, in that order of
 * dependence, and loads the inventory. Every piece opened is closed by `close()` in reverse.
 */
export async function openRuntime(
  rawEnv: RawEnv,
  { local, logger, phase = (_name, run) => run() }: OpenRuntimeOptions,
): Promise<Runtime> {
  const env = parseEnvironment(rawEnv);
  const { closers, close } = closeOnce(logger);
  const urls: Record<string, string> = {};
  try {
    const missing = [
      !env.TEMPORAL_ADDRESS && 'TEMPORAL_ADDRESS',
      !env.DATABASE_URL && 'DATABASE_URL',
      !env.CLOUDFLARE_API_TOKEN &&
        !env.CLOUDFLARE_API_TOKEN_FILE &&
        'CLOUDFLARE_API_TOKEN (or CLOUDFLARE_API_TOKEN_FILE)',
    ].filter((name): name is string => Boolean(name));
    if (!local && missing.length)
      throw new ConfigError(
        missing.map((name) => `environment: ${name}: required (only \`npm start\` provides local stand-ins)`),
      );

    // The three are independent: started side by side, each one's closer registered once it is up.
    const started = await Promise.allSettled([
      phase('Cloudflare simulator', () => openCloudflare(env, rawEnv, logger, closers)),
      openPostgres(env, logger, closers, phase),
      phase('Temporal', () => openTemporal(env, logger, closers)),
    ]);
    const failed = started.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
    const [cloudflareSide, postgresSide, temporalSide] = started.map(
      (result) => (result as PromiseFulfilledResult<unknown>).value,
    ) as [CloudflareSide, PostgresSide, TemporalSide];
    const { cloudflare, secretEnv, inventoryFile } = cloudflareSide;
    const { databaseUrl } = postgresSide;
    const { temporal, connection } = temporalSide;
    Object.assign(urls, cloudflareSide.urls, postgresSide.urls, temporalSide.urls);
    const keys = loadEncryptionKeys(env, { allowGenerated: cloudflare.simulated });
    return assembleRuntime(
      {
        env,
        rawEnv,
        logger,
        cloudflare,
        secretEnv,
        inventoryFile,
        databaseUrl,
        temporal,
        connection,
        keys,
        urls,
      },
      closers,
      close,
    );
  } catch (error) {
    await close();
    throw error;
  }
}
