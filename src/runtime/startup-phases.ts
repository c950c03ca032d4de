import type { Logger } from 'pino';

/** Runs one step of start-up. */
export type Phase = <T>(name: string, run: () => Promise<T>) => Promise<T>;

/** Logs one line per start-up phase with how long it took, so nobody stares at a silent terminal. */
export function loggedPhases(logger: Logger): Phase {
  return async (name, run) => {
    const started = performance.now();
    logger.debug({ phase: name }, `${name}: starting`);
    const result = await run();
    const ms = Math.round(performance.now() - started);
    logger.info({ phase: name, ms }, `${name} ready in ${seconds(ms)}`);
    return result;
  };
}

export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
