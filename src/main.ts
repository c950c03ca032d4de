import type { Logger } from 'pino';
import { configuredApiClients } from './api/clients';
import { createLogger } from './logger';
import { installTemporalLogger } from './runtime/temporal-logging';
import { localClientToken } from './runtime/client-token';
import { adoptDemoCredentials } from './runtime/demo';
import { onShutdownSignal, runEntrypoint } from './runtime/entrypoint';
import { openRuntime, type Runtime } from './runtime/open-runtime';
import { buildRuntimeApp, startRuntimeWorkers } from './runtime/services';
import { upsertSchedules } from './schedules';

/**
 * `npm start`: the whole system in one process. Whatever is not configured is started
 * locally (Temporal dev server, embedded Postgres, Cloudflare simulator).
 */
async function main(): Promise<void> {
  const logger = createLogger(process.env.LOG_LEVEL ?? 'info');
  installTemporalLogger(logger.child({ component: 'temporal' }));
  const runtime = await openRuntime(process.env, { local: true, logger });
  try {
    await serve(runtime, logger);
  } catch (error) {
    // Bounded: a process whose worker failed must exit (and be restarted) even if closing hangs.
    await Promise.race([
      runtime.close().catch(() => undefined),
      new Promise((resolve) => setTimeout(resolve, 10_000).unref()),
    ]);
    throw error;
  }
}

async function serve(runtime: Runtime, logger: Logger): Promise<void> {
  const { env } = runtime;
  let clientToken = env.CLIENT_AUTH_TOKEN;
  if (!clientToken && runtime.cloudflare.simulated) clientToken = localClientToken(env.DATA_DIR);
  const clients = configuredApiClients({ ...env, CLIENT_AUTH_TOKEN: clientToken }, process.env);

  if (runtime.cloudflare.simulator) {
    const adopted = await adoptDemoCredentials(
      runtime.cloudflare.simulator,
      runtime.inventory,
      runtime.pending,
      runtime.stores,
    );
    if (adopted.length) logger.info({ tokens: adopted }, 'demo service-token credentials written to their stores');
  }
  await upsertSchedules(runtime.client, env.TEMPORAL_TASK_QUEUE, logger);
  const workers = await startRuntimeWorkers(runtime);
  const app = await buildRuntimeApp(runtime, clients);
  const apiUrl = await app.listen({ host: env.HOST, port: env.PORT });

  const lines = [
    '',
    'token-warden is running.',
    `  ${'API'.padEnd(22)} ${apiUrl}   (docs: ${apiUrl}/docs)`,
    ...Object.entries(runtime.urls).map(([name, url]) => `  ${name.padEnd(22)} ${url}`),
  ];
  if (runtime.cloudflare.simulated) {
    lines.push(
      '',
      '  Cloudflare is SIMULATED: no real account is touched. Set CLOUDFLARE_API_TOKEN to manage a real one.',
    );
    if (!env.CLIENT_AUTH_TOKEN)
      lines.push(
        `  API client token (generated, kept in ${env.DATA_DIR}/client-auth-token):`,
        `    export CLIENT_AUTH_TOKEN=${clientToken}`,
      );
  }
  lines.push(
    `  Try: curl -H "Authorization: Bearer $CLIENT_AUTH_TOKEN" -X POST ${apiUrl}/api-tokens/verify`,
    '  Ctrl-C stops everything.',
    '',
  );
  process.stdout.write(`${lines.join('\n')}\n`);

  onShutdownSignal(async (signal) => {
    logger.info({ signal }, 'stopping');
    await app.close();
    await workers.shutdown();
    await runtime.close();
  });
  try {
    await workers.done;
  } catch (error) {
    // One worker failed and the others were stopped: the API goes too, and the process exits non-zero.
    logger.fatal({ err: error }, error instanceof Error ? error.message : 'a worker failed');
    await Promise.race([app.close(), new Promise((resolve) => setTimeout(resolve, 5_000).unref())]);
    throw error;
  }
}

runEntrypoint('token-warden', main);
