import path from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Pool } from 'pg';
import { ConfigError, loadInventoryFile, parseEnvironment, type Environment, type Inventory } from '../config';
import { readSecret, type SecretSource } from '../secret-source';
import { createHistoryRepository, type HistoryRepository } from '../db/history-repository';
import { migrate } from '../db/migrate';
import { BUDGET_POOL_SIZE, createPool, LOCK_POOL_SIZE } from '../db/pool';
import type { EncryptionKeys } from '../temporal/codec';
import { connectTemporal, createTemporalClient, type TemporalSettings } from '../temporal/connection';
import { loadEncryptionKeys } from '../temporal/encryption-keys';
import { ensureSearchAttributes } from '../temporal/ensure-search-attributes';
import { startLocalCloudflare, startLocalPostgres, startLocalTemporal } from './local-services';
import type { Phase } from './startup-phases';
import type Cloudflare from 'cloudflare';
import type { RunningSimulator } from '@token-warden/cloudflare-simulator';
import { createBudgetedClients, type LaneClients } from '../cloudflare/budgeted-clients';
import type { Lane } from '../cloudflare/budget/lanes';
import { createRequestBudget, type RequestBudget } from '../cloudflare/budget/request-budget';
import { createPostgresBudgetStore } from '../db/cloudflare-budget-store';
import { createStoreMemo } from '../db/store-memo';
import { createRotationRepository, type RotationRepository } from '../db/rotation-repository';
import { createPendingSecretStore, type PendingSecretStore } from '../secrets/pending-secrets';
import { createSecretBox } from '../secrets/secret-box';
import type { StoreDeps } from '../stores';
import { checkSelfToken, configuredWardenToken, fixedWardenToken, type WardenToken } from './warden-token';

type RawEnv = Readonly<Record<string, string | undefined>>;

export interface Runtime {
  env: Environment;
  logger: Logger;
  inventory: Inventory;
  readSecret: (source: SecretSource) => string | undefined;
  cloudflare: { baseURL?: string; token: WardenToken; simulated: boolean; simulator?: RunningSimulator };
  /** Clients on token-warden's own Cloudflare token, in the interactive lane of the budget. */
  wardenClient: (purpose: 'reads' | 'mutations') => Cloudflare;
  /** Cloudflare clients whose requests take the shared request budget in one lane. */
  cloudflareClients: (lane: Lane) => LaneClients;
  /** The shared Cloudflare request budget, as this process sees it. */
  budget: RequestBudget;
  pool: Pool;
  /** For advisory locks held across Cloudflare calls (see db/pool.ts). */
  lockPool: Pool;
  history: HistoryRepository;
  rotations: RotationRepository;
  pending: PendingSecretStore;
  stores: StoreDeps;
  temporal: TemporalSettings;
  keys: EncryptionKeys;
  connection: Connection;
  client: Client;
  /** What a newcomer should open: Temporal UI, simulator, ... */
  urls: Record<string, string>;
  close(): Promise<void>;
}

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
  const closers: Array<() => Promise<void>> = [];
  // A signal handler and the end of the main loop may both close; the pieces close once.
  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      for (const closer of closers.reverse()) {
        try {
          await closer();
        } catch (error) {
          logger.warn({ err: error }, 'error while shutting down');
        }
      }
    })());
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
    const inventory = loadInventoryFile(path.resolve(inventoryFile ?? 'token-warden.yaml'), secretEnv);
    checkSelfToken(inventory, cloudflare.token);

    const pool = createPool(databaseUrl);
    closers.push(() => pool.end());
    const budgetPool = createPool(databaseUrl, BUDGET_POOL_SIZE);
    closers.push(() => budgetPool.end());
    const lockPool = createPool(databaseUrl, LOCK_POOL_SIZE);
    closers.push(() => lockPool.end());

    const keys = loadEncryptionKeys(env, { allowGenerated: cloudflare.simulated });
    const client = createTemporalClient(connection, temporal.namespace, keys);

    // Every Cloudflare request of every process takes one unit of a budget kept in Postgres.
    const budget = createRequestBudget({
      store: createPostgresBudgetStore(budgetPool),
      settings: {
        requestsPerWindow: env.CLOUDFLARE_REQUESTS_PER_5_MIN,
        windowMs: env.CLOUDFLARE_BUDGET_WINDOW_SECONDS * 1000,
      },
      logger: logger.child({ component: 'cloudflare-budget' }),
    });
    closers.push(async () => budget.close());
    const cloudflareClients = createBudgetedClients({
      budget,
      warden: { apiToken: cloudflare.token.current, baseURL: cloudflare.baseURL, owner: env.CLOUDFLARE_USER },
      logger: logger.child({ component: 'cloudflare-budget' }),
    });
    const wardenClient = cloudflareClients('interactive').warden;
    const stores: StoreDeps = {
      cloudflare: () => wardenClient('mutations'),
      env: secretEnv,
      memo: createStoreMemo(pool),
    };
    return {
      env,
      wardenClient,
      cloudflareClients,
      budget,
      rotations: createRotationRepository(pool),
      pending: createPendingSecretStore(pool, createSecretBox(keys)),
      stores,
      logger,
      inventory,
      readSecret: (source) => readSecret(source, secretEnv),
      cloudflare,
      pool,
      lockPool,
      history: createHistoryRepository(pool),
      temporal,
      keys,
      connection,
      client,
      urls,
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}
