import type { RunningSimulator } from '@token-warden/cloudflare-simulator';
import { latencyStormRule } from './faults';
import { sleep, sleepUnless, type ChaosRandom } from './random';
import type { FlakyDirectory } from './world';

/**
 * The chaos run's agents outside the infrastructure: each a bounded loop that ends when `calm`
 * turns true, and leaves what it broke repaired.
 */
export interface AgentContext {
  random: ChaosRandom;
  calm: () => boolean;
}

/** The flaky file-store directory breaks after a gap in [minGapMs, maxGapMs], for a short or a long outage. */
export async function breakStoresNowAndThen(
  flaky: FlakyDirectory,
  options: {
    minGapMs: number;
    maxGapMs: number;
    shortMs: [number, number];
    longMs: [number, number];
    longShare: number;
  },
  { random, calm }: AgentContext,
): Promise<void> {
  while (!calm()) {
    await sleepUnless(random.between(options.minGapMs, options.maxGapMs), calm);
    if (calm()) break;
    const [min, max] = random.chance(options.longShare) ? options.longMs : options.shortMs;
    flaky.break();
    await sleepUnless(random.between(min, max), calm);
    flaky.repair();
  }
}

/**
 * Every so often, one window of Cloudflare's own limiter (not an injected fault) allows only
 * `limit` requests: past it, 429 with Retry-After until the window ends. Returns how many.
 */
export async function squeezeTheRateLimit(
  sim: RunningSimulator,
  options: { everyMs: [number, number]; limit: number },
  { random, calm }: AgentContext,
): Promise<number> {
  const normal = sim.faults.rateLimit();
  const windowMs = (normal.windowSeconds * 1000) / normal.timeScale;
  let squeezes = 0;
  while (!calm()) {
    await sleepUnless(random.between(...options.everyMs), calm);
    if (calm()) break;
    // A window opens with the next request.
    sim.faults.rateLimit({ limit: options.limit });
    squeezes += 1;
    await sleepUnless(windowMs, calm);
    sim.faults.rateLimit({ limit: normal.limit });
  }
  sim.faults.rateLimit({ limit: normal.limit });
  return squeezes;
}

/** Reads hanging past the SDK timeout, for a moment every so often. Returns how many storms. */
export async function stormNowAndThen(
  sim: RunningSimulator,
  options: { everyMs: [number, number]; lastMs: [number, number] },
  { random, calm }: AgentContext,
): Promise<number> {
  let storms = 0;
  while (!calm()) {
    await sleepUnless(random.between(...options.everyMs), calm);
    if (calm()) break;
    const id = sim.faults.add(latencyStormRule(21_000));
    storms += 1;
    await sleep(random.between(...options.lastMs));
    sim.faults.remove(id);
  }
  return storms;
}
