import { createLogger } from '../logger';
import { onShutdownSignal, runEntrypoint } from '../runtime/entrypoint';
import { openRuntime } from '../runtime/open-runtime';
import { buildRuntimeApp } from '../runtime/services';
import { configuredApiClients } from './clients';

/** Production API process: needs TEMPORAL_ADDRESS, DATABASE_URL and CLOUDFLARE_API_TOKEN (or CLOUDFLARE_API_TOKEN_FILE). */
runEntrypoint('token-warden api', async () => {
  const logger = createLogger(process.env.LOG_LEVEL ?? 'info', 'token-warden-api');
  const runtime = await openRuntime(process.env, { local: false, logger });
  let clients;
  try {
    clients = configuredApiClients(runtime.env, process.env);
  } catch (error) {
    await runtime.close();
    throw error;
  }
  const app = await buildRuntimeApp(runtime, clients);
  await app.listen({ host: runtime.env.HOST, port: runtime.env.PORT });
  onShutdownSignal(async () => {
    await app.close();
    await runtime.close();
  });
});
