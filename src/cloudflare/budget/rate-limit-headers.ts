/** What Cloudflare's answer said about the user's allowance; times relative to its arrival. */
export interface RateLimitReading {
  remaining: number;
  resetInMs: number;
  /** The window the quota applies to, when the answer names it. */
  windowMs: number | null;
}

/** Parameters of the first item of a structured-field list: `"default";r=50;t=30` → {r: 50, t: 30}. */
function items(header: string): Array<Record<string, number>> {
  return header.split(',').map((item) => {
    const params: Record<string, number> = {};
    for (const part of item.split(';').slice(1)) {
      const [key, value] = part.split('=').map((s) => s.trim());
      const number = Number(value);
      if (key && value !== undefined && Number.isFinite(number)) params[key] = number;
    }
    return params;
  });
}

/**
 * Cloudflare's `Ratelimit` / `Ratelimit-Policy` (the IETF draft) or the older
 * `X-RateLimit-Remaining` / `-Reset` / `-Limit`. The most constraining item wins. Null when the
 * answer carries none of them: the budget then relies on its own pace alone.
 */
export function readRateLimitHeaders(headers: Headers, now = Date.now()): RateLimitReading | null {
  const ietf = headers.get('ratelimit');
  if (ietf) {
    const limits = items(ietf).filter((p) => p.r !== undefined && p.t !== undefined);
    const tightest = limits.sort((a, b) => a.r! - b.r!)[0];
    if (tightest) {
      const windows = items(headers.get('ratelimit-policy') ?? '')
        .map((p) => p.w)
        .filter((w): w is number => w !== undefined);
      return {
        remaining: tightest.r!,
        resetInMs: tightest.t! * 1000,
        windowMs: windows.length ? Math.max(...windows) * 1000 : null,
      };
    }
  }
  const remaining = Number(headers.get('x-ratelimit-remaining') ?? NaN);
  const reset = Number(headers.get('x-ratelimit-reset') ?? NaN);
  if (!Number.isFinite(remaining) || !Number.isFinite(reset)) return null;
  // Reset is seconds from now, or (past a billion) a Unix time in seconds.
  return { remaining, resetInMs: reset > 1e9 ? Math.max(0, reset * 1000 - now) : reset * 1000, windowMs: null };
}

/** `Retry-After` as milliseconds from now (seconds or an HTTP date); null when absent. */
export function retryAfterMs(headers: Headers, now = Date.now()): number | null {
  const value = headers.get('retry-after');
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isFinite(date) ? Math.max(0, date - now) : null;
}
