import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { buildApp } from '../../src/api/app';
import type { ApiClient } from '../../src/api/clients';
import { createBudgetedClients } from '../../src/cloudflare/budgeted-clients';
import { createRequestBudget } from '../../src/cloudflare/budget/request-budget';
import { createPostgresBudgetStore } from '../../src/db/cloudflare-budget-store';
import { createStoreMemo } from '../../src/db/store-memo';
import { createPostgresPolicyIndex } from '../../src/db/access-policy-index';
import { startSimulator, type RunningSimulator, type StartSimulatorOptions } from '@token-warden/cloudflare-simulator';
import { inventorySchema, type Inventory } from '../../src/config';
import { readSecret } from '../../src/secret-source';
import { createHistoryRepository, type HistoryRepository } from '../../src/db/history-repository';
import { createRotationRepository, type RotationRepository } from '../../src/db/rotation-repository';
import { createMetricsQueries } from '../../src/db/metrics-queries';
import { createDiscoveredCredentialsRepository } from '../../src/db/discovered-credentials';
import { createServiceTokenExpiryReader } from '../../src/service-token-expiry';
import { startWorkers, type RunningWorkers } from '../../src/runtime/workers';
import type { RuntimeAttachment } from '../../src/runtime/assemble-runtime';
import { wardenTokenFromFile } from '../../src/runtime/warden-token';
import { createPendingSecretStore, type PendingSecretStore } from '../../src/secrets/pending-secrets';
import { createSecretBox } from '../../src/secrets/secret-box';
import type { StoreDeps } from '../../src/stores';
import { AesGcmPayloadCodec, type EncryptionKeys } from '../../src/temporal/codec';
import { createTemporalClient } from '../../src/temporal/connection';
import { REPLAY_FIXTURE_KEYS } from '../replay/fixture-keys';
import { createTestDatabase, type TestDatabase } from './database';
import { recordHistories } from './history-recorder';

export const TEST_TOKEN = `test-${randomBytes(12).toString('hex')}`;
export const TEST_CLIENT: ApiClient = { name: 'test-client', token: TEST_TOKEN, scopes: ['*'] };

export interface Stack {
  sim: RunningSimulator;
  db: TestDatabase;
  keys: EncryptionKeys;
  connection: Connection;
  client: Client;
  taskQueue: string;
  history: HistoryRepository;
  rotations: RotationRepository;
  pending: PendingSecretStore;
  /** Environment the inventory's `secretFrom: {env}` and store tokens are read from. */
  secretEnv: Record<string, string | undefined>;
  storeDeps: StoreDeps;
  inventory: Inventory;
  /**
   * Starts (or restarts) the workers with the current inventory; `emergencyThread`: the emergency
   * worker in a thread of its own, as src/worker.ts runs it (its stores: files and Cloudflare's).
   */
  startWorkers(options?: { emergencyThread?: boolean }): Promise<RunningWorkers>;
  app(options?: {
    clients?: ApiClient[];
    rateLimit?: { max: number; perSeconds: number };
    /** How long Cloudflare's expiry listing is kept (production: a minute); 0 here unless a test asks. */
    expiryTtlMs?: number;
    temporalUiUrl?: string;
  }): Promise<FastifyInstance>;
  auth: { authorization: string };
  close(): Promise<void>;
}

export interface StackOptions {
  simulator?: StartSimulatorOptions;
  /** Built once the simulator is up (its ids and values are known). */
  inventory: (sim: RunningSimulator) => unknown;
  secretEnv?: (sim: RunningSimulator) => Record<string, string | undefined>;
  storeDeps?: (sim: RunningSimulator) => Partial<StoreDeps>;
  /** token-warden's own token comes from this file, re-read when it changes (CLOUDFLARE_API_TOKEN_FILE). */
  wardenTokenFile?: string;
  /** Requests per 5 minutes of the shared Cloudflare budget; tests default to one that never slows them. */
  cloudflareRequestsPer5Min?: number;
}

/**
 * The real stack for one suite: the Cloudflare simulator over HTTP, its own Postgres database,
 * the shared Temporal dev server with a task queue of its own, the real workers and API.
 */
export async function startStack(options: StackOptions): Promise<Stack> {
  const sim = await startSimulator({ port: 0, seed: 'none', ...options.simulator });
  const db = await createTestDatabase();
  // Recording histories for the replay test: its fixed, public fixture key, so they can be replayed.
  const recordTo = process.env.RECORD_HISTORIES_DIR;
  const keys: EncryptionKeys = recordTo
    ? REPLAY_FIXTURE_KEYS
    : { currentKeyId: 'test', keys: new Map([['test', randomBytes(32)]]) };
  const address = process.env.TEST_TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEST_TEMPORAL_ADDRESS is not set: run through jest');
  const connection = await Connection.connect({ address });
  const client = createTemporalClient(connection, 'default', keys);
  const taskQueue = `tw-test-${randomBytes(6).toString('hex')}`;
  const history = createHistoryRepository(db.pool);
  const rotations = createRotationRepository(db.pool);
  const pending = createPendingSecretStore(db.pool, createSecretBox(keys));
  const inventory = inventorySchema.parse(options.inventory(sim));
  const secretEnv = options.secretEnv?.(sim) ?? {};
  const wardenToken = secretEnv.CLOUDFLARE_API_TOKEN ?? sim.demo?.apiTokens.warden.value ?? undefined;
  const budget = createRequestBudget({
    store: createPostgresBudgetStore(db.pool),
    settings: { requestsPerWindow: options.cloudflareRequestsPer5Min ?? 1_000_000, windowMs: 300_000 },
  });
  const policyIndex = createPostgresPolicyIndex(db.pool);
  const cloudflareClients = createBudgetedClients({
    budget,
    warden: {
      apiToken: options.wardenTokenFile
        ? wardenTokenFromFile(options.wardenTokenFile).current
        : (wardenToken ?? 'missing'),
      baseURL: sim.baseURL,
      owner: 'test-user',
    },
  });
  const wardenClient = cloudflareClients('interactive').warden;
  const storeDeps: StoreDeps = {
    cloudflare: () => wardenClient('mutations'),
    env: secretEnv,
    memo: createStoreMemo(db.pool),
    ...options.storeDeps?.(sim),
  };
  const running: RunningWorkers[] = [];
  const apps: FastifyInstance[] = [];
  // What the emergency thread opens again: this stack's services, its inventory in a file.
  const workDir = mkdtempSync(path.join(os.tmpdir(), 'tw-stack-'));
  const attachment = (): RuntimeAttachment => {
    const inventoryFile = path.join(workDir, 'token-warden.json');
    writeFileSync(inventoryFile, JSON.stringify(stack.inventory));
    return {
      rawEnv: {
        CLOUDFLARE_USER: 'test-user',
        CLOUDFLARE_REQUESTS_PER_5_MIN: String(options.cloudflareRequestsPer5Min ?? 1_000_000),
        TEMPORAL_TASK_QUEUE: taskQueue,
        LOG_LEVEL: 'warn',
        ...(options.wardenTokenFile ? { CLOUDFLARE_API_TOKEN_FILE: options.wardenTokenFile } : {}),
      },
      secretEnv,
      inventoryFile,
      databaseUrl: db.url,
      temporal: { address, namespace: 'default' },
      cloudflare: {
        baseURL: sim.baseURL,
        simulated: true,
        simulatorToken: options.wardenTokenFile ? undefined : (wardenToken ?? 'missing'),
      },
      keys,
    };
  };

  const stack: Stack = {
    sim,
    db,
    keys,
    connection,
    client,
    taskQueue,
    history,
    rotations,
    pending,
    secretEnv,
    storeDeps,
    inventory,
    auth: { authorization: `Bearer ${TEST_TOKEN}` },
    async startWorkers({ emergencyThread = false } = {}) {
      const workers = await startWorkers({
        emergencyThread: emergencyThread ? { attachment: attachment() } : undefined,
        temporal: { address, namespace: 'default' },
        taskQueue,
        keys,
        deps: (lane) => ({
          inventory: stack.inventory,
          readSecret: (source) => readSecret(source, secretEnv),
          cloudflare: cloudflareClients(lane).factory,
          cloudflareBaseURL: sim.baseURL,
          history,
          rotations,
          pending,
          wardenClient: cloudflareClients(lane).warden,
          stores: { ...storeDeps, cloudflare: () => cloudflareClients(lane).warden('mutations') },
          cloudflareBudget: { load: () => budget.load('test-user') },
          policyIndex,
          discovered: createDiscoveredCredentialsRepository(db.pool),
        }),
      });
      running.push(workers);
      return workers;
    },
    async app(appOptions = {}) {
      const app = await buildApp({
        clients: appOptions.clients ?? [TEST_CLIENT],
        rateLimit: appOptions.rateLimit,
        logger: false,
        temporal: client,
        taskQueue,
        history,
        inventory: stack.inventory,
        rotations,
        serviceTokenExpiry: createServiceTokenExpiryReader(
          stack.inventory,
          async (scope) => (await wardenClient('reads').zeroTrust.access.serviceTokens.list(scope)).getPaginatedItems(),
          appOptions.expiryTtlMs ?? 0,
        ),
        dashboard: { temporalUiUrl: appOptions.temporalUiUrl ?? null, namespace: 'default' },
        metrics: createMetricsQueries(db.pool),
        discovered: createDiscoveredCredentialsRepository(db.pool),
        codec: { codec: new AesGcmPayloadCodec(keys), uiOrigins: ['http://127.0.0.1:8233'], public: false },
        readiness: {
          temporal: async () => void (await connection.workflowService.getSystemInfo({})),
          postgres: async () => void (await db.pool.query('SELECT 1')),
        },
      });
      apps.push(app);
      return app;
    },
    async close() {
      if (recordTo) await recordHistories(client, taskQueue, path.resolve(recordTo));
      for (const app of apps) await app.close();
      for (const workers of running) await workers.shutdown().catch(() => undefined);
      budget.close();
      await connection.close();
      await db.drop();
      await sim.close();
      rmSync(workDir, { recursive: true, force: true });
    },
  };
  return stack;
}
