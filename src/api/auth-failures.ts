import { isIPv6 } from 'node:net';

export interface AuthFailureLimit {
  /** Failed authentications an address may make per window… */
  max: number;
  /** …of this many seconds; past `max` it gets 429 until the window ends. */
  perSeconds: number;
}

/** Addresses tracked at most; past it the oldest windows are dropped (an attack from many addresses costs memory, not the API). */
const MAX_TRACKED = 50_000;

/**
 * What counts as one source: an IPv4 address, or the /64 an IPv6 address is in (one host is
 * handed a whole /64, and would otherwise have 2^64 addresses to spread its guesses over).
 */
export function sourceOf(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped) return mapped[1]!;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail] = ip.toLowerCase().split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups =
    tail === undefined ? left : [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  return `${groups
    .slice(0, 4)
    .map((g) => g.replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}

/**
 * Failed authentications per source (see `sourceOf`), in fixed windows, kept in this process
 * (each API replica counts its own). The API asks before it checks any credential, so while a
 * source is over its limit nothing it sends is compared with a token: a blocked guesser learns
 * nothing, not even that a guess was right.
 */
export function createAuthFailureCounter(limit: AuthFailureLimit, now: () => number = Date.now) {
  const windows = new Map<string, { failures: number; endsAt: number }>();
  const windowMs = limit.perSeconds * 1000;

  function prune(at: number) {
    for (const [address, window] of windows) if (window.endsAt <= at) windows.delete(address);
    for (const address of windows.keys()) {
      if (windows.size <= MAX_TRACKED) break;
      windows.delete(address);
    }
  }

  return {
    /** Seconds until `address` may try again; 0 when it may now. */
    retryAfterSeconds(address: string): number {
      const window = windows.get(sourceOf(address));
      const at = now();
      if (!window || window.endsAt <= at || window.failures < limit.max) return 0;
      return Math.max(1, Math.ceil((window.endsAt - at) / 1000));
    },
    recordFailure(address: string): void {
      const source = sourceOf(address);
      const at = now();
      const window = windows.get(source);
      if (window && window.endsAt > at) {
        window.failures += 1;
        return;
      }
      if (windows.size >= MAX_TRACKED) prune(at);
      windows.set(source, { failures: 1, endsAt: at + windowMs });
    },
  };
}
