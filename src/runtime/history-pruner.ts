import type { Logger } from 'pino';
import type { Pool } from 'pg';
import { pruneHistory, type PrunedRows } from '../db/history-retention';

export interface HistoryPrunerOptions {
  pool: Pool;
  /** HISTORY_RETENTION_DAYS; 0 keeps everything and starts nothing. */
  retentionDays: number;
  logger: Pick<Logger, 'info' | 'warn'>;
  /** Between two prunes (default an hour): each deletes what aged past the retention since the last. */
  intervalMs?: number;
  /** Before the first one (default a minute), so a start-up is not slowed by it. */
  firstAfterMs?: number;
}

export interface HistoryPruner {
  /** Clears the timer and waits for a prune under way, so the pool may close after it. */
  stop(): Promise<void>;
}

/**
 * Prunes old history rows from a worker process, hourly. Every worker process runs one: two
 * prunes at once delete disjoint rows or wait on each other's row locks, never fail.
 */
export function startHistoryPruner(options: HistoryPrunerOptions): HistoryPruner {
  if (options.retentionDays <= 0) return { stop: async () => undefined };
  let running: Promise<void> = Promise.resolve();
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;

  const prune = async () => {
    try {
      const pruned: PrunedRows = await pruneHistory(options.pool, { retentionDays: options.retentionDays });
      if (pruned.rotations || pruned.apiTokenChecks || pruned.auditEvents)
        options.logger.info(
          { pruned, retentionDays: options.retentionDays },
          'history older than the retention pruned',
        );
    } catch (error) {
      // Postgres away: the next prune catches up.
      options.logger.warn({ err: error }, 'history pruning failed; it runs again at the next interval');
    }
  };
  const schedule = (delayMs: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = prune().then(() => schedule(options.intervalMs ?? 3_600_000));
    }, delayMs);
    timer.unref();
  };
  schedule(options.firstAfterMs ?? 60_000);

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
