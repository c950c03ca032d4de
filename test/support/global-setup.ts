import { resolveTemporalCli } from '../../src/temporal/cli-binary';
import { freePort, startDevServer } from '../../src/temporal/dev-server';
import { startTestPostgres } from './postgres-server';

/**
 * One real PostgreSQL server and one real Temporal dev server for the whole run, shared by
 * every suite through environment variables (each suite makes its own database and task queue).
 */
export default async function globalSetup(): Promise<void> {
  const stops: Array<() => Promise<void> | void> = [];
  if (!process.env.TEST_DATABASE_URL) {
    const postgres = startTestPostgres(await freePort());
    stops.push(postgres.stop);
    process.env.TEST_DATABASE_URL = postgres.url;
  }
  if (!process.env.TEST_TEMPORAL_ADDRESS) {
    const cli = await resolveTemporalCli({ explicitPath: process.env.TEMPORAL_CLI_PATH });
    const server = await startDevServer({ cli, port: await freePort() });
    stops.push(server.stop);
    process.env.TEST_TEMPORAL_ADDRESS = server.address;
  }
  (globalThis as { __tokenWardenStops?: typeof stops }).__tokenWardenStops = stops;
}
