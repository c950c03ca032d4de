import { buildApp } from '../api/app';
import type { ApiClient } from '../api/clients';
import { AesGcmPayloadCodec } from '../temporal/codec';
import { createMetricsQueries } from '../db/metrics-queries';
import { createDiscoveredCredentialsRepository } from '../db/discovered-credentials';
import { createServiceTokenExpiryReader } from '../service-token-expiry';
import { createUiIdentityVerifier } from '../api/ui-identity';
import { startHistoryPruner } from './history-pruner';
import { temporalUiOrigins, uiIdentitySettings } from './temporal-ui';
import { runtimeActivityDeps } from './activity-deps';
import type { SpawnedEmergencyThread } from './emergency-thread';
import { startWorkers, type RunningWorkers, type WorkerSettings } from './workers';
import type { Runtime } from './open-runtime';

/**
 * The workers wired to the runtime's Temporal, Postgres and Cloudflare, and the history pruner
 * beside them. The emergency lane's workers run in a thread of their own (emergency-thread.ts),
 * spawned now unless `emergencyThread` was spawned earlier.
 */
export async function startRuntimeWorkers(
  runtime: Runtime,
  options: Pick<WorkerSettings, 'prebuiltBundle' | 'workflowBundle'> & {
    emergencyThread?: SpawnedEmergencyThread;
  } = {},
): Promise<RunningWorkers> {
  const workers = await startWorkers({
    temporal: runtime.temporal,
    taskQueue: runtime.env.TEMPORAL_TASK_QUEUE,
    keys: runtime.keys,
    prebuiltBundle: options.prebuiltBundle,
    workflowBundle: options.workflowBundle,
    logger: runtime.logger,
    deps: runtimeActivityDeps(runtime),
    emergencyThread: { attachment: runtime.attachment, spawned: options.emergencyThread },
  });
  const pruner = startHistoryPruner({
    pool: runtime.pool,
    retentionDays: runtime.env.HISTORY_RETENTION_DAYS,
    logger: runtime.logger.child({ component: 'history-retention' }),
  });
  return {
    done: workers.done.finally(() => pruner.stop()),
    async shutdown() {
      await pruner.stop();
      await workers.shutdown();
    },
  };
}

/** The API wired to the runtime; not yet listening. */
export function buildRuntimeApp(runtime: Runtime, clients: readonly ApiClient[]) {
  return buildApp({
    clients,
    rateLimit: { max: runtime.env.API_RATE_LIMIT_PER_MINUTE, perSeconds: 60 },
    statusMaxAgeMs: runtime.env.TOKEN_STATUS_MAX_AGE_SECONDS * 1000,
    logger: runtime.logger,
    temporal: runtime.client,
    taskQueue: runtime.env.TEMPORAL_TASK_QUEUE,
    history: runtime.history,
    inventory: runtime.inventory,
    rotations: runtime.rotations,
    serviceTokenExpiry: createServiceTokenExpiryReader(runtime.inventory, async (scope) =>
      (await runtime.wardenClient('reads').zeroTrust.access.serviceTokens.list(scope)).getPaginatedItems(),
    ),
    metrics: createMetricsQueries(runtime.pool),
    discovered: createDiscoveredCredentialsRepository(runtime.pool),
    dashboard: {
      temporalUiUrl: runtime.env.TEMPORAL_UI_URL ?? runtime.urls['Temporal UI'] ?? null,
      namespace: runtime.temporal.namespace,
    },
    codec: {
      codec: new AesGcmPayloadCodec(runtime.keys),
      uiOrigins: temporalUiOrigins(runtime.env),
      uiIdentity: createUiIdentityVerifier(uiIdentitySettings(runtime.env)),
      public: runtime.cloudflare.simulated && ['127.0.0.1', 'localhost', '::1'].includes(runtime.env.HOST),
    },
    readiness: {
      temporal: async () => void (await runtime.connection.workflowService.getSystemInfo({})),
      postgres: async () => void (await runtime.pool.query('SELECT 1')),
    },
  });
}
