import type { Clock } from './clock';
import type { RateLimitPatch } from './faults-schema';

export interface RateLimitConfig {
  enabled: boolean;
  /** Requests allowed per window per API token (Cloudflare: 1,200). */
  limit: number;
  /** Window length in Cloudflare seconds (Cloudflare: 300). */
  windowSeconds: number;
  /** Divides the window so tests run it fast: timeScale 300 turns 5 minutes into 1 second. */
  timeScale: number;
}

export type RateLimitResult =
  | { allowed: true; remaining: number; resetSeconds: number }
  | { allowed: false; retryAfterSeconds: number };

export const CLOUDFLARE_RATE_LIMIT: Readonly<RateLimitConfig> = Object.freeze({
  enabled: true,
  limit: 1200,
  windowSeconds: 300,
  timeScale: 1,
});

/** A fixed window per key (API token), opened by the key's first request in it. */
export class RateLimiter {
  private settings: RateLimitConfig;
  private readonly windows = new Map<string, { start: number; count: number }>();

  constructor(
    private readonly clock: Clock,
    config: Partial<RateLimitConfig> = {},
  ) {
    this.settings = { ...CLOUDFLARE_RATE_LIMIT, ...config };
  }

  get config(): RateLimitConfig {
    return { ...this.settings };
  }

  configure(patch: RateLimitPatch): RateLimitConfig {
    this.settings = { ...this.settings, ...patch };
    this.windows.clear();
    return this.config;
  }

  reset(): void {
    this.windows.clear();
  }

  windowMs(): number {
    return (this.settings.windowSeconds * 1000) / this.settings.timeScale;
  }

  take(key: string): RateLimitResult {
    const now = this.clock.now();
    const windowMs = this.windowMs();
    let window = this.windows.get(key);
    if (!window || now - window.start >= windowMs) {
      window = { start: now, count: 0 };
      this.windows.set(key, window);
    }
    const resetSeconds = Math.max(1, Math.ceil((window.start + windowMs - now) / 1000));
    if (!this.settings.enabled) return { allowed: true, remaining: this.settings.limit, resetSeconds };
    if (window.count >= this.settings.limit) return { allowed: false, retryAfterSeconds: resetSeconds };
    window.count += 1;
    return { allowed: true, remaining: this.settings.limit - window.count, resetSeconds };
  }
}
