import { laneRank, type Lane } from './lanes';
import type { RateLimitReading } from './rate-limit-headers';
import { budgetShape, type BudgetSettings, type BudgetShape } from './shape';
import type { BudgetLoad, BudgetStore } from './store';

export interface BudgetLogger {
  warn(details: Record<string, unknown>, message: string): void;
}

export interface RequestBudget {
  readonly shape: BudgetShape;
  /** Resolves when `owner` may send one request in `lane`; higher lanes are served first. */
  acquire(owner: string, lane: Lane): Promise<void>;
  /** Cloudflare answered 429: every process pauses `owner` for `retryAfterMs`. */
  rateLimited(owner: string, retryAfterMs: number): Promise<void>;
  /** An answer's rate-limit headers; best effort, never delays the caller. */
  observe(owner: string, reading: RateLimitReading): void;
  /** Requests taken so far for `owner`, across every process: how busy the budget is. */
  load(owner: string): Promise<BudgetLoad & { emissionMs: number }>;
  /** Refuses every waiting and later request: the process is shutting down. */
  close(): void;
}

export interface RequestBudgetOptions {
  store: BudgetStore;
  settings: BudgetSettings;
  logger?: BudgetLogger;
  /** How long an emergency waits for an unresponsive store before it spends its local reserve. */
  emergencyStoreTimeoutMs?: number;
}

interface Waiter {
  lane: Lane;
  seq: number;
  resolve: () => void;
  reject: (error: Error) => void;
  /** A unit taken ahead, for the lane's next request (no request waits for it). */
  ahead?: true;
}

const STORE_RETRY_MS = 1_000;
const DROP_AHEAD = -1;

export class BudgetClosedError extends Error {
  constructor() {
    super('the Cloudflare request budget is closed: this process is shutting down');
    this.name = 'BudgetClosedError';
  }
}

/**
 * Requests spent by emergencies of this process while the shared store is unreachable: at most
 * the emergency lane's own reserve per window, so even then the fleet stays metered.
 */
function localEmergencyReserve(shape: BudgetShape) {
  const reserve = shape.burst.emergency - shape.burst.interactive;
  const spent: number[] = [];
  return () => {
    const now = Date.now();
    while (spent.length && spent[0]! <= now - shape.windowMs) spent.shift();
    if (spent.length >= reserve) return false;
    spent.push(now);
    return true;
  };
}

function withTimeout<T>(work: Promise<T>, ms: number | undefined): Promise<T> {
  if (ms === undefined) return work;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`budget store did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/**
 * One queue per Cloudflare user in this process: waiters are served highest lane first, one
 * store round trip at a time, and a higher lane arriving wakes a queue sleeping for a lower one.
 * Across processes the lanes' bursts (see shape.ts) give the same order without coordination.
 *
 * Each lane keeps one unit taken ahead: a request finding it goes at once, without a store round
 * trip on its way (a revoke's first call least of all), and the next is taken behind it. A unit
 * in hand is counted when taken, so it is never an unmetered request; it is dropped when
 * Cloudflare blocks the user or once it is older than `handMaxAgeMs` (counted, never sent).
 */
class OwnerQueue {
  private readonly waiting: Waiter[] = [];
  /** When each lane's unit in hand was taken. */
  private readonly inHand = new Map<Lane, number>();
  private pumping = false;
  private sleeping: { rank: number; wake: () => void } | null = null;
  private blockedUntil = 0;
  private seq = 0;
  private storeDown = false;
  private closed = false;

  constructor(
    private readonly owner: string,
    private readonly options: Required<Pick<RequestBudgetOptions, 'store' | 'emergencyStoreTimeoutMs'>> &
      Pick<RequestBudgetOptions, 'logger'>,
    private readonly shape: BudgetShape,
    private readonly emergencyReserve: () => boolean,
    private readonly handMaxAgeMs: number,
  ) {}

  acquire(lane: Lane): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.closed) return reject(new BudgetClosedError());
      if (this.fromHand(lane)) {
        resolve();
        this.takeAhead(lane);
        return;
      }
      this.waiting.push({ lane, seq: this.seq++, resolve, reject });
      if (this.sleeping && laneRank(lane) < this.sleeping.rank) this.sleeping.wake();
      void this.pump();
    });
  }

  close(): void {
    this.closed = true;
    this.inHand.clear();
    for (const waiter of this.waiting.splice(0)) waiter.reject(new BudgetClosedError());
    this.sleeping?.wake();
  }

  blockLocally(until: number): void {
    this.blockedUntil = Math.max(this.blockedUntil, until);
    this.inHand.clear();
  }

  /** The lane's unit in hand, if it still counts: taken recently, and Cloudflare is not blocking. */
  private fromHand(lane: Lane): boolean {
    const takenAt = this.inHand.get(lane);
    this.inHand.delete(lane);
    return takenAt !== undefined && Date.now() - takenAt <= this.handMaxAgeMs && Date.now() >= this.blockedUntil;
  }

  /** Takes the lane's next unit behind a request, unless one is in hand or on its way, or requests of the lane are queued anyway. */
  private takeAhead(lane: Lane): void {
    if (this.closed || this.storeDown || this.inHand.has(lane) || this.waiting.some((w) => w.lane === lane)) return;
    const keep = () => {
      // A request of the lane that came meanwhile takes it at once.
      const next = this.waiting.find((w) => w.lane === lane && !w.ahead);
      if (!next) return void this.inHand.set(lane, Date.now());
      this.waiting.splice(this.waiting.indexOf(next), 1);
      next.resolve();
    };
    this.waiting.push({ lane, seq: this.seq++, resolve: keep, reject: () => undefined, ahead: true });
    void this.pump();
  }

  private head(): Waiter {
    return this.waiting.reduce((best, w) =>
      laneRank(w.lane) < laneRank(best.lane) || (w.lane === best.lane && w.seq < best.seq) ? w : best,
    );
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.waiting.length) {
        const head = this.head();
        const waitMs = await this.tryTake(head);
        if (waitMs === DROP_AHEAD) {
          this.waiting.splice(this.waiting.indexOf(head), 1);
        } else if (waitMs === 0) {
          this.waiting.splice(this.waiting.indexOf(head), 1);
          head.resolve();
          if (!head.ahead) this.takeAhead(head.lane);
        } else {
          await this.sleep(waitMs, laneRank(head.lane));
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  /** 0 when a request was taken; otherwise how long to wait before trying again (DROP_AHEAD: give up a unit taken ahead). */
  private async tryTake({ lane, ahead }: Waiter): Promise<number> {
    const blocked = this.blockedUntil - Date.now();
    if (blocked > 0) return blocked;
    try {
      const result = await withTimeout(
        this.options.store.take(this.owner, lane, this.shape),
        lane === 'emergency' ? this.options.emergencyStoreTimeoutMs : undefined,
      );
      if (this.storeDown) this.options.logger?.warn({ owner: this.owner }, 'Cloudflare budget store reachable again');
      this.storeDown = false;
      return result.granted ? 0 : result.waitMs;
    } catch (error) {
      // No unit is taken ahead while the store is away (nor from the emergency reserve).
      if (ahead) return DROP_AHEAD;
      if (lane === 'emergency' && this.emergencyReserve()) {
        this.options.logger?.warn(
          { owner: this.owner, err: error },
          'Cloudflare budget store unreachable: an emergency spends its reserve counted in this process',
        );
        return 0;
      }
      if (!this.storeDown)
        this.options.logger?.warn(
          { owner: this.owner, err: error },
          'Cloudflare budget store unreachable: Cloudflare requests wait for it',
        );
      this.storeDown = true;
      return STORE_RETRY_MS;
    }
  }

  private async sleep(ms: number, rank: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.sleeping = {
        rank,
        wake: () => {
          clearTimeout(timer);
          resolve();
        },
      };
    });
    this.sleeping = null;
  }
}

/**
 * The Cloudflare request budget of one process, on a store every process shares. Every request
 * to Cloudflare takes one unit (see budgeted-fetch.ts); see shape.ts for how lanes share it.
 */
export function createRequestBudget(options: RequestBudgetOptions): RequestBudget {
  const shape = budgetShape(options.settings);
  const settings = {
    store: options.store,
    logger: options.logger,
    emergencyStoreTimeoutMs: options.emergencyStoreTimeoutMs ?? 1_000,
  };
  const reserve = localEmergencyReserve(shape);
  // A unit in hand is sent within this of being counted, so any window is off by at most one per lane.
  const handMaxAgeMs = Math.min(10_000, shape.windowMs / 30);
  const queues = new Map<string, OwnerQueue>();
  let closed = false;
  const queue = (owner: string) => {
    let found = queues.get(owner);
    if (!found) queues.set(owner, (found = new OwnerQueue(owner, settings, shape, reserve, handMaxAgeMs)));
    return found;
  };
  // At most one reading in flight per user; a newer one replaces any that waits.
  const observing = new Map<string, RateLimitReading | null>();
  const observe = (owner: string, reading: RateLimitReading): void => {
    if (observing.has(owner)) {
      observing.set(owner, reading);
      return;
    }
    observing.set(owner, null);
    void options.store
      .observe(owner, reading, shape)
      .catch(() => undefined)
      .finally(() => {
        const next = observing.get(owner);
        observing.delete(owner);
        if (next) observe(owner, next);
      });
  };

  return {
    shape,
    acquire: (owner, lane) => (closed ? Promise.reject(new BudgetClosedError()) : queue(owner).acquire(lane)),
    async rateLimited(owner, retryAfterMs) {
      queue(owner).blockLocally(Date.now() + retryAfterMs);
      await options.store
        .block(owner, retryAfterMs)
        .catch((error: unknown) =>
          options.logger?.warn(
            { owner, err: error },
            'could not share a Cloudflare rate-limit block with other workers',
          ),
        );
    },
    observe,
    load: async (owner) => ({ ...(await options.store.load(owner)), emissionMs: shape.emissionMs }),
    close() {
      closed = true;
      for (const q of queues.values()) q.close();
    },
  };
}
