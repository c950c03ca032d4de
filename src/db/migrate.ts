import type { Logger } from 'pino';
import { MIGRATIONS_DIR } from '../paths';

/** Applies every pending migration; safe to call from several processes at once (advisory lock). */
export async function migrate(
  databaseUrl: string,
  logger?: Pick<Logger, 'debug' | 'warn' | 'error'>,
): Promise<string[]> {
  const { runner } = await import('node-pg-migrate');
  const applied = await runner({
    databaseUrl,
    dir: MIGRATIONS_DIR,
    migrationsTable: 'pgmigrations',
    direction: 'up',
    singleTransaction: true,
    advisoryLockMode: 'wait',
    log: () => undefined,
    logger: logger
      ? {
          // Its file-by-file progress: the caller reports the outcome in one line.
          info: (m: string) => logger.debug(m),
          warn: (m: string) => logger.warn(m),
          error: (m: string) => logger.error(m),
          debug: () => undefined,
        }
      : undefined,
  });
  return applied.map((migration) => migration.name);
}
