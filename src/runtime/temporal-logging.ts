import type { LogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import { Runtime } from '@temporalio/worker';
import type { Logger } from 'pino';

const LEVELS: Record<LogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * Routes the Temporal SDK's logs (and workflow/activity `log` calls) into pino. The worker's
 * own housekeeping at INFO (bundle built, state changes) becomes debug, so a newcomer's
 * terminal shows the workflows' lines, not webpack's.
 */
export function installTemporalLogger(logger: Logger): void {
  const log = (level: LogLevel, message: string, meta?: LogMetadata) => {
    const component = meta?.sdkComponent;
    const housekeeping =
      (level === 'INFO' && (component === 'worker' || component === 'core')) ||
      message.startsWith('No workflows registered');
    const pinoLevel = housekeeping ? 'debug' : LEVELS[level];
    logger[pinoLevel]({ temporal: meta }, message);
  };
  const adapter: TemporalLogger = {
    log,
    trace: (m, meta) => log('TRACE', m, meta),
    debug: (m, meta) => log('DEBUG', m, meta),
    info: (m, meta) => log('INFO', m, meta),
    warn: (m, meta) => log('WARN', m, meta),
    error: (m, meta) => log('ERROR', m, meta),
  };
  Runtime.install({ logger: adapter });
}
