import { rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/**
 * The worker serves no HTTP. While its workers run, the process touches this file; the
 * liveness probe (`node dist/src/worker-probe.js`, in Kubernetes and docker-compose) reads its
 * age. A blocked event loop or a process whose workers have ended stops touching it.
 */
export const WORKER_HEARTBEAT_FILE = path.join(os.tmpdir(), 'token-warden-worker.alive');
export const HEARTBEAT_INTERVAL_MS = 10_000;
/** Three missed beats and a margin: one slow tick under load is not a dead process. */
export const HEARTBEAT_MAX_AGE_MS = 45_000;

export interface WorkerHeartbeat {
  stop(): void;
}

/** Touches `file` now and every `intervalMs` until stopped; stopping removes it. */
export function startWorkerHeartbeat(options: { file?: string; intervalMs?: number } = {}): WorkerHeartbeat {
  const file = options.file ?? WORKER_HEARTBEAT_FILE;
  const beat = () => writeFileSync(file, `${new Date().toISOString()}\n`);
  beat();
  const timer = setInterval(beat, options.intervalMs ?? HEARTBEAT_INTERVAL_MS);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      rmSync(file, { force: true });
    },
  };
}

/** Why the heartbeat is missing or stale, or undefined when it is fresh. */
export function heartbeatProblem(
  file: string = WORKER_HEARTBEAT_FILE,
  now: number = Date.now(),
  maxAgeMs: number = HEARTBEAT_MAX_AGE_MS,
): string | undefined {
  let touched: number;
  try {
    touched = statSync(file).mtimeMs;
  } catch {
    return `no heartbeat at ${file}: the workers have not started, or have stopped`;
  }
  const age = now - touched;
  return age <= maxAgeMs ? undefined : `the last heartbeat at ${file} is ${Math.round(age / 1000)} s old`;
}
