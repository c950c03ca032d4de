/**
 * npm start's Temporal dev server in a process of its own, for the orphan test: starts it on
 * DATA_DIR and TEMPORAL_PORT, prints `ready`, and stops it on SIGTERM (a SIGKILL leaves it running).
 */
import pino from 'pino';
import type { Environment } from '../../src/config';
import { startLocalTemporal } from '../../src/runtime/local-services';

async function main(): Promise<void> {
  const env = {
    DATA_DIR: process.env.DATA_DIR,
    TEMPORAL_PORT: Number(process.env.TEMPORAL_PORT),
    TEMPORAL_NAMESPACE: 'default',
    HOST: '127.0.0.1',
    PORT: 3000,
  } as Environment;
  const server = await startLocalTemporal(env, pino({ level: 'warn' }, pino.destination(2)));
  process.stdout.write('ready\n');
  process.once('SIGTERM', () => void server.stop().then(() => process.exit(0)));
  setInterval(() => undefined, 60_000);
}

main().catch((error: Error) => {
  process.stderr.write(`${error.message}\n`);
  process.exit(1);
});
