import type { CallCounter } from './calls';
import { CloudflareApiError, CODE } from './errors';
import type { RateLimitTarget } from './faults-schema';
import {
  rateLimitKeyOfIp,
  rateLimitKeyOfToken,
  type RateLimitDecision,
  type RateLimitKeySnapshot,
  type RateLimiter,
} from './rate-limit';
import type { SimulatorState } from './state/state';
import type { ApiTokenRecord } from './state/types';

export interface RateLimitSpendResult {
  key: string;
  /** Outside requests the limiter let through (they count in the window). */
  accepted: number;
  /** Outside requests answered 429 (the one that started a block included). */
  refused: number;
  /** One of them exceeded the limit and started a block. */
  blockStarted: boolean;
  /** The key's state after spending. */
  snapshot: RateLimitKeySnapshot;
}

/**
 * The rate limit as the rest of the simulator uses it: which key a request counts against,
 * admitting API requests, spending outside requests (another client of the same owner), and
 * telling request listeners about both.
 */
export class RateLimitControl {
  constructor(
    private readonly limiter: RateLimiter,
    private readonly calls: CallCounter,
    private readonly state: SimulatorState,
  ) {}

  /** The key a token value's requests count against, or undefined for a value no API token has. */
  keyOf(tokenValue: string): string | undefined {
    const token = this.state.apiTokens.findByValue(tokenValue);
    return token ? this.keyOfToken(token) : undefined;
  }

  keyOfToken(token: Pick<ApiTokenRecord, 'id' | 'owner'>): string {
    return rateLimitKeyOfToken(token, this.state.user.id);
  }

  /** A known API token (valid or not) counts against its owner; anything else against the client IP. */
  keyOfRequest(token: ApiTokenRecord | undefined, ip: string): string {
    return token ? this.keyOfToken(token) : rateLimitKeyOfIp(ip);
  }

  /** Counts one API request and tells the listeners (with its method and path, relative to the API prefix). */
  admit(key: string, operationId: string, request: { method: string; path: string }): RateLimitDecision {
    return this.take(key, operationId, request);
  }

  /**
   * Spends `n` requests of the target's allowance as another client of the same owner would
   * (the dashboard, Terraform): they count and can start a block exactly like API requests.
   */
  spend(target: RateLimitTarget, n: number): RateLimitSpendResult {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`spend: n must be a non-negative integer, got ${n}`);
    const key = this.resolve(target);
    let accepted = 0;
    let blockStarted = false;
    for (let i = 0; i < n; i += 1) {
      const decision = this.take(key, 'outside', null);
      if (decision.allowed) accepted += 1;
      else blockStarted ||= decision.blockStarted;
    }
    return { key, accepted, refused: n - accepted, blockStarted, snapshot: this.limiter.snapshot(key) };
  }

  snapshot(target: RateLimitTarget): RateLimitKeySnapshot {
    return this.limiter.snapshot(this.resolve(target));
  }

  snapshots(): RateLimitKeySnapshot[] {
    return this.limiter.snapshots();
  }

  private resolve(target: RateLimitTarget): string {
    if ('key' in target) return target.key;
    const key = this.keyOf(target.tokenValue);
    if (key === undefined) throw CloudflareApiError.of(404, CODE.notFound, 'no API token has that value');
    return key;
  }

  /** `request` is null for outside requests (no HTTP request was made). */
  private take(key: string, operationId: string, request: { method: string; path: string } | null): RateLimitDecision {
    const at = this.state.clock.now();
    const decision = this.limiter.take(key, at);
    this.calls.arrived({
      operationId,
      at,
      rateLimited: !decision.allowed,
      key,
      outside: request === null,
      windowStart: decision.allowed ? decision.windowStart : null,
      method: request?.method ?? null,
      path: request?.path ?? null,
    });
    return decision;
  }
}
