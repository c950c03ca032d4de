import type { Lane } from './lanes';

/** Requests per window Cloudflare allows a user unless it raised the limit for an enterprise. */
export const CLOUDFLARE_ALLOWANCE = 1200;

export interface BudgetSettings {
  /** Requests token-warden may send per window and Cloudflare user (Cloudflare allows 1,200). */
  requestsPerWindow: number;
  /** Cloudflare's window: 5 minutes (shorter only against a time-scaled simulator). */
  windowMs: number;
}

/**
 * How the budget spends its requests (a GCRA): one request every `emissionMs` on average, and
 * each lane may run ahead of that pace by a burst of `burst[lane]` requests. The scheduled lane
 * gets the smallest burst, interactive a little more, an emergency the most; so a lower lane
 * stops while a higher one still has room, and no lane waits for a lower one. Whatever the
 * lanes do, any window of `windowMs` holds at most `requestsPerWindow` requests: the largest
 * burst plus the steady pace over the window.
 */
export interface BudgetShape {
  emissionMs: number;
  burst: Record<Lane, number>;
  /**
   * Requests of Cloudflare's remaining allowance (from its rate-limit headers) a lane must leave
   * to the lanes above it.
   */
  leaveToHigher: Record<Lane, number>;
  windowMs: number;
}

export function budgetShape({ requestsPerWindow, windowMs }: BudgetSettings): BudgetShape {
  const share = (fraction: number, least: number) => Math.max(least, Math.ceil(requestsPerWindow * fraction));
  const scheduled = share(0.01, 1);
  const interactive = scheduled + share(0.01, 1);
  const emergency = interactive + share(0.02, 2);
  if (emergency >= requestsPerWindow)
    throw new Error(`a budget of ${requestsPerWindow} requests per window leaves no room for its lanes' bursts`);
  // Left of Cloudflare's own count: sized on its allowance even when this budget is larger
  // (tests), so a lane never waits for room Cloudflare could not give in the first place.
  const headroom = (burst: number) =>
    Math.round(((emergency - burst) * Math.min(requestsPerWindow, CLOUDFLARE_ALLOWANCE)) / requestsPerWindow);
  return {
    emissionMs: windowMs / (requestsPerWindow - emergency),
    burst: { emergency, interactive, scheduled },
    leaveToHigher: { emergency: 0, interactive: headroom(interactive), scheduled: headroom(scheduled) },
    windowMs,
  };
}
