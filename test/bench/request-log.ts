import type { CountedApiRequest, RunningSimulator } from '@token-warden/cloudflare-simulator';

interface Waiter {
  match: (event: CountedApiRequest) => boolean;
  resolve: (event: CountedApiRequest | null) => void;
  timer: NodeJS.Timeout;
}

/**
 * Every request the simulator counts, as it arrives, in this (the bench's) process: the figures
 * are built from it, and a caller can wait for one request (the `rotate` of a revoked token).
 */
export class RequestLog {
  readonly events: CountedApiRequest[] = [];
  private readonly waiters = new Set<Waiter>();
  private readonly unsubscribe: () => void;

  constructor(sim: RunningSimulator) {
    this.unsubscribe = sim.calls.onRequest((event) => {
      this.events.push(event);
      for (const waiter of this.waiters) {
        if (!waiter.match(event)) continue;
        this.waiters.delete(waiter);
        clearTimeout(waiter.timer);
        waiter.resolve(event);
      }
    });
  }

  /** Events from index `from` on (a mark taken with `mark()`), optionally up to `to`. */
  since(from: number, to?: number): CountedApiRequest[] {
    return this.events.slice(from, to);
  }

  mark(): number {
    return this.events.length;
  }

  /** The first matching request to arrive from now on, or null after `timeoutMs`. Register before causing it. */
  next(match: (event: CountedApiRequest) => boolean, timeoutMs: number): Promise<CountedApiRequest | null> {
    return new Promise((resolve) => {
      const waiter: Waiter = { match, resolve, timer: setTimeout(() => this.settle(waiter, null), timeoutMs) };
      this.waiters.add(waiter);
    });
  }

  close(): void {
    this.unsubscribe();
    for (const waiter of [...this.waiters]) this.settle(waiter, null);
  }

  private settle(waiter: Waiter, event: CountedApiRequest | null): void {
    if (!this.waiters.delete(waiter)) return;
    clearTimeout(waiter.timer);
    waiter.resolve(event);
  }
}
