import type { Lane } from './lanes';
import type { RateLimitReading } from './rate-limit-headers';
import type { BudgetShape } from './shape';

export type TakeResult = { granted: true } | { granted: false; waitMs: number };

/** How much of the budget has been used: requests taken so far, at a time on the store's clock (ms). */
export interface BudgetLoad {
  granted: number;
  at: number;
}

/**
 * Where the budget's state lives, shared by every process that calls Cloudflare as one user.
 * Every call is one atomic step; a process that dies mid-way holds nothing.
 */
export interface BudgetStore {
  /** Takes one request for `lane`, or says how long to wait before asking again. */
  take(owner: string, lane: Lane, shape: BudgetShape): Promise<TakeResult>;
  /** Cloudflare answered 429: nobody sends for `owner` for `retryAfterMs`. */
  block(owner: string, retryAfterMs: number): Promise<void>;
  /** What an answer's rate-limit headers said. */
  observe(owner: string, reading: RateLimitReading, shape: BudgetShape): Promise<void>;
  /** Requests taken so far for `owner`. */
  load(owner: string): Promise<BudgetLoad>;
}
