import { readFileSync } from 'node:fs';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/paths';
import type { RestartableChild } from '../support/processes';

/** A worker's memory limit in the Kubernetes manifest (`limits: { …, memory: 768Mi }`), as written. */
export function kubernetesWorkerMemoryLimit(): string | null {
  const manifest = readFileSync(path.join(PROJECT_ROOT, 'deploy', 'kubernetes', 'worker.yaml'), 'utf8');
  return /limits:\s*\{[^}]*memory:\s*"?([0-9]+[A-Za-z]*)/.exec(manifest)?.[1] ?? null;
}

/** Resident memory of a process in MiB (Linux's /proc; every thread of the process counted), or null. */
function residentMiB(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const kB = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kB === undefined ? null : Math.round(Number(kB) / 1024);
  } catch {
    return null;
  }
}

/** Samples each process's resident memory every `everyMs` and keeps its peak (MiB, 0 when never read). */
export function watchPeakMemory(
  processes: ReadonlyArray<Pick<RestartableChild, 'pid'>>,
  everyMs = 5_000,
): { stop(): number[] } {
  const peaks = processes.map(() => 0);
  const sample = () =>
    processes.forEach((child, i) => {
      peaks[i] = Math.max(peaks[i]!, residentMiB(child.pid) ?? 0);
    });
  sample();
  const timer = setInterval(sample, everyMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peaks;
    },
  };
}

/** The fleet's note on worker memory, beside the limit a worker gets in Kubernetes. */
export function memoryNote(peaks: readonly number[], fromDist: boolean): string {
  const build = fromDist
    ? 'the production build from dist/'
    : 'src/ under tsx, which also bundles the workflows in each process: production (--from-dist) takes less';
  const limit = kubernetesWorkerMemoryLimit();
  return `worker memory: peak resident ${peaks.map((mb) => `${mb} MiB`).join(', ')} (${build}); deploy/kubernetes/worker.yaml limits a worker to ${limit ?? 'no memory limit'}`;
}
