import type { LoadRound } from './figures';

/**
 * The one load generator P5's routes and its bare route share: `concurrency` loops in this
 * process, each sending its next GET as soon as its last answer is read, over Node's keep-alive
 * fetch, for `durationMs`.
 */
export async function loadRound(
  url: string,
  options: { concurrency: number; durationMs: number; headers?: Record<string, string> },
): Promise<LoadRound> {
  const round: LoadRound = { ok: 0, failed: 0, ms: 0, latencies: [] };
  const began = performance.now();
  const end = began + options.durationMs;
  const loop = async () => {
    while (performance.now() < end) {
      const sent = performance.now();
      try {
        const response = await fetch(url, { headers: options.headers ?? {}, signal: AbortSignal.timeout(30_000) });
        await response.arrayBuffer();
        if (response.ok) {
          round.ok++;
          round.latencies.push(performance.now() - sent);
        } else round.failed++;
      } catch {
        round.failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, loop));
  round.ms = performance.now() - began;
  return round;
}
