import type { Logger } from 'pino';
import { MIGRATIONS_DIR } from '../paths';

/** Applies every pending migration; safe to call from several processes at once (advisory lock). */
export async function migrate(
  databaseUrl: string,
  logger?: Pick<Logger, 'info' | 'warn' | 'error'>,
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
          info: (m: string) => logger.info(m),
          warn: (m: string) => logger.warn(m),
          error: (m: string) => logger.error(m),
          debug: () => undefined,
        }
      : undefined,
  });
  return applied.map((migration) => migration.name);
}
