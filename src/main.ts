import type { Logger } from 'pino';
import { configuredApiClients } from './api/clients';
import { createLogger } from './logger';
import { installTemporalLogger } from './runtime/temporal-logging';
import { localClientToken } from './runtime/client-token';
import { adoptDemoCredentials } from './runtime/demo';
import { onShutdownSignal, runEntrypoint } from './runtime/entrypoint';
import { openRuntime, type Runtime } from './runtime/open-runtime';
import { buildRuntimeApp, startRuntimeWorkers } from './runtime/services';
import { loggedPhases, type Phase } from './runtime/startup-phases';
import { startupSummary } from './runtime/startup-summary';
import { cachedWorkflowBundle } from './runtime/workflow-bundle-cache';
import { upsertSchedules } from './schedules';

interface Running {
  runtime: Runtime;
  stop(): Promise<void>;
  /** Settles when a worker fails; the process then exits non-zero. */
  done: Promise<void>;
}

/**
 * `npm start`: the whole system in one process. Whatever is not configured is started
 * locally (Temporal dev server, embedded Postgres, Cloudflare simulator), side by side.
 */
async function main(): Promise<void> {
  const logger = createLogger(process.env.LOG_LEVEL ?? 'info');
  installTemporalLogger(logger.child({ component: 'temporal' }));
  const phase = loggedPhases(logger);
  // Webpack's seconds overlap the servers' start; a cached bundle is only read.
  const workflowBundle = cachedWorkflowBundle();
  workflowBundle.catch(() => undefined);

  const starting = (async (): Promise<Running> => {
    const runtime = await openRuntime(process.env, { local: true, logger, phase });
    try {
      return await serve(runtime, logger, phase, workflowBundle);
    } catch (error) {
      await closeWithin(runtime.close(), 10_000);
      throw error;
    }
  })();
  // A signal during start-up stops what has started once it has: nothing is left running.
  onShutdownSignal(async (signal) => {
    logger.info({ signal }, 'stopping');
    const running = await starting.catch(() => undefined);
    await running?.stop();
  });
  const running = await starting;
  try {
    await running.done;
  } catch (error) {
    // One worker failed and the others were stopped: the API goes too, and the process exits non-zero.
    logger.fatal({ err: error }, error instanceof Error ? error.message : 'a worker failed');
    // Bounded: a process whose worker failed must exit (and be restarted) even if closing hangs.
    await closeWithin(running.stop(), 10_000);
    throw error;
  }
}

/**
 * Awaits every step; when one failed, `undo` receives what the others made (undefined where they
 * failed) and the first failure is thrown.
 */
async function settleAll<T extends readonly unknown[]>(
  steps: { [K in keyof T]: Promise<T[K]> },
  undo: (made: { [K in keyof T]: T[K] | undefined }) => Promise<void>,
): Promise<T> {
  const settled = await Promise.allSettled(steps);
  const made = settled.map((result) => (result.status === 'fulfilled' ? result.value : undefined));
  const failed = settled.find((result) => result.status === 'rejected');
  if (!failed) return made as unknown as T;
  await undo(made as unknown as { [K in keyof T]: T[K] | undefined });
  throw failed.reason;
}

function closeWithin(closing: Promise<unknown>, ms: number): Promise<unknown> {
  return Promise.race([closing.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, ms).unref())]);
}

async function serve(
  runtime: Runtime,
  logger: Logger,
  phase: Phase,
  workflowBundle: ReturnType<typeof cachedWorkflowBundle>,
): Promise<Running> {
  const { env } = runtime;
  let clientToken = env.CLIENT_AUTH_TOKEN;
  if (!clientToken && runtime.cloudflare.simulated) clientToken = localClientToken(env.DATA_DIR);
  const clients = configuredApiClients({ ...env, CLIENT_AUTH_TOKEN: clientToken }, process.env);

  // Each needs only Temporal and Postgres: side by side, and the API listens once all are up.
  const [workers, app] = await settleAll(
    [
      phase('schedules', async () => {
        if (runtime.cloudflare.simulator) {
          const adopted = await adoptDemoCredentials(
            runtime.cloudflare.simulator,
            runtime.inventory,
            runtime.pending,
            runtime.stores,
          );
          if (adopted.length)
            logger.info({ tokens: adopted }, 'demo service-token credentials written to their stores');
        }
        await upsertSchedules(runtime.client, env.TEMPORAL_TASK_QUEUE, logger);
      }).then(() => undefined),
      phase('workers', () => startRuntimeWorkers(runtime, { workflowBundle })),
      buildRuntimeApp(runtime, clients),
    ] as const,
    async ([, startedWorkers, builtApp]) => {
      await builtApp?.close();
      await startedWorkers?.shutdown();
    },
  ).then(([, startedWorkers, builtApp]) => [startedWorkers, builtApp] as const);
  let apiUrl: string;
  try {
    apiUrl = await phase('API', () => app.listen({ host: env.HOST, port: env.PORT }));
  } catch (error) {
    await workers.shutdown();
    throw error;
  }
  const readyMs = Math.round(process.uptime() * 1000);
  logger.info({ readyMs }, `ready in ${(readyMs / 1000).toFixed(1)} s`);
  process.stdout.write(
    startupSummary({
      env,
      apiUrl,
      urls: runtime.urls,
      simulated: runtime.cloudflare.simulated,
      clientToken,
      readyMs,
    }),
  );
  let stopping: Promise<void> | undefined;
  return {
    runtime,
    done: workers.done,
    stop: () =>
      (stopping ??= (async () => {
        await app.close();
        await workers.shutdown();
        await runtime.close();
      })()),
  };
}

runEntrypoint('token-warden', main);
