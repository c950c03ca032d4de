import { ConfigError } from '../config';

/** Runs an entry point; configuration problems print one line each, never a stack trace. */
export function runEntrypoint(name: string, main: () => Promise<void>): void {
  main().catch((error: unknown) => {
    if (error instanceof ConfigError) {
      process.stderr.write(`${name} cannot start:\n${error.problems.map((p) => `  ${p}`).join('\n')}\n`);
    } else {
      process.stderr.write(`${name} failed: ${error instanceof Error ? error.message : String(error)}\n`);
    }
    process.exit(1);
  });
}

/** Stops on the first SIGINT/SIGTERM, once. */
export function onShutdownSignal(stop: (signal: string) => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    stop(signal).then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', () => handler('SIGINT'));
  process.on('SIGTERM', () => handler('SIGTERM'));
}
