/**
 * npm start's PostgreSQL in a process of its own, for the orphan test: starts it on DATA_DIR and
 * POSTGRES_PORT, prints `ready`, and stops it on SIGTERM (a SIGKILL leaves it running).
 */
import pino from 'pino';
import type { Environment } from '../../src/config';
import { startLocalPostgres } from '../../src/runtime/local-services';

async function main(): Promise<void> {
  const env = { DATA_DIR: process.env.DATA_DIR, POSTGRES_PORT: Number(process.env.POSTGRES_PORT) } as Environment;
  const postgres = await startLocalPostgres(env, pino({ level: 'warn' }, pino.destination(2)));
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => void postgres.close().then(() => process.exit(0)));
  setInterval(() => undefined, 60_000);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
