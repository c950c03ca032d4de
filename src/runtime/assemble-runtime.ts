import path from 'node:path';
import type { Client, Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import type { Pool } from 'pg';
import type Cloudflare from 'cloudflare';
import type { RunningSimulator } from '@token-warden/cloudflare-simulator';
import { loadInventoryFile, parseEnvironment, type Environment, type Inventory } from '../config';
import { readSecret, type SecretSource } from '../secret-source';
import { createHistoryRepository, type HistoryRepository } from '../db/history-repository';
import { BUDGET_POOL_SIZE, createPool, LOCK_POOL_SIZE, POOL_SIZE } from '../db/pool';
import type { EncryptionKeys } from '../temporal/codec';
import { connectTemporal, createTemporalClient, type TemporalSettings } from '../temporal/connection';
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

export type RawEnv = Readonly<Record<string, string | undefined>>;

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
  /** What another thread needs to open this runtime again (attachRuntime), with nothing started twice. */
  attachment: RuntimeAttachment;
  close(): Promise<void>;
}

/**
 * The runtime once its services are up, as plain data a worker thread can receive: addresses,
 * keys and environment, no connection. Local stand-ins (`npm start`) are named by the addresses
 * they were given; the simulator's token travels here because no environment holds it.
 */
export interface RuntimeAttachment {
  rawEnv: RawEnv;
  secretEnv: RawEnv;
  inventoryFile: string | undefined;
  databaseUrl: string;
  temporal: TemporalSettings;
  cloudflare: { baseURL?: string; simulated: boolean; simulatorToken?: string };
  keys: EncryptionKeys;
}

export interface RuntimeParts extends Omit<RuntimeAttachment, 'cloudflare'> {
  /** Connections each pool keeps open however long it idles (a thread that must answer at once). */
  keepOpen?: number;
  env: Environment;
  logger: Logger;
  cloudflare: Runtime['cloudflare'];
  connection: Connection;
  urls: Record<string, string>;
}

/**
 * What a runtime opens, closed by `close()` in reverse, once: a signal handler and the end of the
 * main loop may both close. A piece that fails to close is logged, and the others still close.
 */
export function closeOnce(logger: Pick<Logger, 'warn'>): {
  closers: Array<() => Promise<void>>;
  close: () => Promise<void>;
} {
  const closers: Array<() => Promise<void>> = [];
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
  return { closers, close };
}

/** The runtime's pools, budget, clients and repositories over services already up; `closers` gets what it opens. */
export function assembleRuntime(
  parts: RuntimeParts,
  closers: Array<() => Promise<void>>,
  close: () => Promise<void>,
): Runtime {
  const { env, logger, cloudflare, secretEnv, databaseUrl, keys, connection, temporal } = parts;
  const inventory = loadInventoryFile(path.resolve(parts.inventoryFile ?? 'token-warden.yaml'), secretEnv);
  checkSelfToken(inventory, cloudflare.token);

  const pool = createPool(databaseUrl, POOL_SIZE, parts.keepOpen);
  closers.push(() => pool.end());
  const budgetPool = createPool(databaseUrl, BUDGET_POOL_SIZE, parts.keepOpen);
  closers.push(() => budgetPool.end());
  const lockPool = createPool(databaseUrl, LOCK_POOL_SIZE, parts.keepOpen);
  closers.push(() => lockPool.end());

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
    urls: parts.urls,
    attachment: {
      rawEnv: parts.rawEnv,
      secretEnv,
      inventoryFile: parts.inventoryFile,
      databaseUrl,
      temporal,
      cloudflare: {
        baseURL: cloudflare.baseURL,
        simulated: cloudflare.simulated,
        simulatorToken: cloudflare.simulator ? cloudflare.token.current() : undefined,
      },
      keys,
    },
    close,
  };
}

/**
 * The runtime another thread of the process opened (src/runtime/emergency-thread-main.ts): same
 * Temporal, Postgres, Cloudflare and keys, its own connections. Nothing is started or migrated.
 * That thread idles for days and then must answer at once: each pool opens a connection now and
 * keeps it, rather than opening one (TCP, authentication) in front of a revoke's first query.
 */
export async function attachRuntime(attachment: RuntimeAttachment, logger: Logger): Promise<Runtime> {
  const env = parseEnvironment(attachment.rawEnv);
  const { closers, close } = closeOnce(logger);
  try {
    const { simulatorToken, ...rest } = attachment.cloudflare;
    const token = simulatorToken ? fixedWardenToken(simulatorToken, 'the simulator') : configuredWardenToken(env);
    if (!token) throw new Error('the attached runtime has no Cloudflare token');
    const connection = await connectTemporal(attachment.temporal);
    closers.push(() => connection.close());
    const runtime = assembleRuntime(
      { ...attachment, keepOpen: 1, env, logger, cloudflare: { ...rest, token }, connection, urls: {} },
      closers,
      close,
    );
    await Promise.all([
      runtime.pool.query('SELECT 1'),
      runtime.lockPool.query('SELECT 1'),
      runtime.budget.load(env.CLOUDFLARE_USER),
    ]);
    return runtime;
  } catch (error) {
    await close();
    throw error;
  }
}
