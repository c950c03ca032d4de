/** mulberry32: a small seeded generator, so a chaos run's own choices repeat for a seed. */
export class ChaosRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }

  /** An integer in [min, max]. */
  between(min: number, max: number): number {
    return Math.floor(min + this.next() * (max - min + 1));
  }

  /** A generator of its own for an agent, so its choices repeat for a seed however agents interleave. */
  fork(): ChaosRandom {
    return new ChaosRandom(Math.floor(this.next() * 4294967296));
  }

  pick<T>(items: readonly T[]): T {
    if (!items.length) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Sleeps `ms`, or less when `stop` turns true first. */
export async function sleepUnless(ms: number, stop: () => boolean): Promise<void> {
  const until = Date.now() + ms;
  while (!stop() && Date.now() < until) await sleep(Math.min(250, until - Date.now()));
}
