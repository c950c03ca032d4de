import type { Clock } from './clock';
import type { RateLimitPatch } from './faults-schema';
import type { ApiTokenRecord } from './state/types';

export interface RateLimitConfig {
  enabled: boolean;
  /** Requests allowed per window per key: a user, an account-owned token or an IP (Cloudflare: 1,200). */
  limit: number;
  /** Window length in Cloudflare seconds (Cloudflare: 300); a block lasts one window too. */
  windowSeconds: number;
  /** Divides the window so tests run it fast: timeScale 300 turns 5 minutes into 1 second. */
  timeScale: number;
  /** Send `Ratelimit`, `Ratelimit-Policy` and the limiter's `Retry-After`; false tests clients that must not need them. */
  headers: boolean;
}

/**
 * What the limiter made of one request. Seconds are real seconds after time scaling
 * (simulator-clock milliseconds ÷ 1000), rounded up and at least 1.
 */
export type RateLimitDecision =
  | { allowed: true; key: string; remaining: number; resetSeconds: number; windowStart: number }
  | { allowed: false; key: string; retryAfterSeconds: number; blockedUntil: number; blockStarted: boolean };

/** One key's state as of now; an ended window or block reads as none. Times are simulator-clock ms. */
export interface RateLimitKeySnapshot {
  key: string;
  /** Requests counted in the open window (0 when none is open). */
  count: number;
  /** Requests the open window still allows (the limit when none is open, or when the limit is disabled). */
  remaining: number;
  windowStart: number | null;
  windowEnd: number | null;
  /** While blocked every request of the key is answered 429. */
  blockedUntil: number | null;
}

export const CLOUDFLARE_RATE_LIMIT: Readonly<RateLimitConfig> = Object.freeze({
  enabled: true,
  limit: 1200,
  windowSeconds: 300,
  timeScale: 1,
  headers: true,
});

/**
 * The key a token's requests count against. Cloudflare limits a user across all of that
 * user's tokens, and an account-owned token on its own. The simulator has one user.
 */
export function rateLimitKeyOfToken(token: Pick<ApiTokenRecord, 'id' | 'owner'>, userId: string): string {
  return token.owner.kind === 'user' ? `user:${userId}` : `account-token:${token.id}`;
}

/** Requests without a known API token count per client IP. */
export const rateLimitKeyOfIp = (ip: string): string => `ip:${ip}`;

interface KeyState {
  windowStart: number;
  count: number;
  /** Set by the request that exceeded the limit; the window is over from then on. */
  blockedUntil?: number;
}

const ceilSeconds = (ms: number): number => Math.max(1, Math.ceil(ms / 1000));

/**
 * Cloudflare's rule: a fixed window per key, opened by the key's first request. The request
 * that would exceed the limit starts a block of one whole window from that moment; it and
 * every request of the key until the block ends are refused, and after it a fresh window
 * opens with the next request. Disabled, requests are still counted (for snapshots) but
 * never refused.
 */
export class RateLimiter {
  private settings: RateLimitConfig;
  private readonly keys = new Map<string, KeyState>();

  constructor(
    private readonly clock: Clock,
    config: Partial<RateLimitConfig> = {},
  ) {
    this.settings = { ...CLOUDFLARE_RATE_LIMIT, ...config };
  }

  get config(): RateLimitConfig {
    return { ...this.settings };
  }

  /** Changes the settings; any change but `headers` alone also forgets every window and block. */
  configure(patch: RateLimitPatch): RateLimitConfig {
    this.settings = { ...this.settings, ...patch };
    const onlyHeaders = Object.keys(patch).every((name) => name === 'headers');
    if (!onlyHeaders || Object.keys(patch).length === 0) this.keys.clear();
    return this.config;
  }

  reset(): void {
    this.keys.clear();
  }

  windowMs(): number {
    return (this.settings.windowSeconds * 1000) / this.settings.timeScale;
  }

  /** `now`: the caller's reading of the clock, so what it reports of the request agrees with the decision. */
  take(key: string, now = this.clock.now()): RateLimitDecision {
    const windowMs = this.windowMs();
    const { limit, enabled } = this.settings;
    let state = this.current(key, now);
    if (state?.blockedUntil !== undefined) {
      return {
        allowed: false,
        key,
        retryAfterSeconds: ceilSeconds(state.blockedUntil - now),
        blockedUntil: state.blockedUntil,
        blockStarted: false,
      };
    }
    if (!state) {
      state = { windowStart: now, count: 0 };
      this.keys.set(key, state);
    }
    if (enabled && state.count >= limit) {
      state.blockedUntil = now + windowMs;
      return {
        allowed: false,
        key,
        retryAfterSeconds: ceilSeconds(windowMs),
        blockedUntil: state.blockedUntil,
        blockStarted: true,
      };
    }
    state.count += 1;
    return {
      allowed: true,
      key,
      remaining: enabled ? limit - state.count : limit,
      resetSeconds: ceilSeconds(state.windowStart + windowMs - now),
      windowStart: state.windowStart,
    };
  }

  snapshot(key: string): RateLimitKeySnapshot {
    const state = this.current(key, this.clock.now());
    const { limit, enabled } = this.settings;
    if (!state) return { key, count: 0, remaining: limit, windowStart: null, windowEnd: null, blockedUntil: null };
    if (state.blockedUntil !== undefined) {
      return { key, count: 0, remaining: 0, windowStart: null, windowEnd: null, blockedUntil: state.blockedUntil };
    }
    return {
      key,
      count: state.count,
      remaining: enabled ? Math.max(0, limit - state.count) : limit,
      windowStart: state.windowStart,
      windowEnd: state.windowStart + this.windowMs(),
      blockedUntil: null,
    };
  }

  /** Every key with an open window or block. */
  snapshots(): RateLimitKeySnapshot[] {
    const now = this.clock.now();
    return [...this.keys.keys()].filter((key) => this.current(key, now)).map((key) => this.snapshot(key));
  }

  /** The key's live state, after dropping an ended window or block. */
  private current(key: string, now: number): KeyState | undefined {
    const state = this.keys.get(key);
    if (!state) return undefined;
    const over =
      state.blockedUntil !== undefined ? now >= state.blockedUntil : now - state.windowStart >= this.windowMs();
    if (!over) return state;
    this.keys.delete(key);
    return undefined;
  }
}

/** The rate-limit headers of an API answer, given what the limiter decided about its request. */
export function rateLimitHeaders(config: RateLimitConfig, decision: RateLimitDecision): Record<string, string> {
  if (!config.headers) return {};
  // Seconds as the client lives them: `t` and Retry-After are time-scaled, so the window is too.
  const policy = `"default";q=${config.limit};w=${Math.max(1, Math.round(config.windowSeconds / config.timeScale))}`;
  if (!decision.allowed) {
    const t = decision.retryAfterSeconds;
    return { 'Ratelimit-Policy': policy, Ratelimit: `"default";r=0;t=${t}`, 'Retry-After': String(t) };
  }
  return { 'Ratelimit-Policy': policy, Ratelimit: `"default";r=${decision.remaining};t=${decision.resetSeconds}` };
}
