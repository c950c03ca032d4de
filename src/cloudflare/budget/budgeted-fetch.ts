import type { Lane } from './lanes';
import { readRateLimitHeaders, retryAfterMs } from './rate-limit-headers';
import type { BudgetLogger, RequestBudget } from './request-budget';

export interface BudgetedFetchOptions {
  budget: RequestBudget;
  /** The Cloudflare user whose limit the credential's requests count against. */
  owner: string;
  lane: Lane;
  /** Bounds each send; waiting for the budget is not part of it. */
  sendTimeoutMs: number;
  fetch?: typeof fetch;
  logger?: BudgetLogger;
}

/**
 * The `fetch` the Cloudflare SDK is given: the one place every request to Cloudflare passes,
 * SDK retries included. Each send first takes a unit of the shared budget. A 429 is never
 * handed to the caller: Cloudflare did not apply the request, so it is sent again once the
 * block Cloudflare announced has passed, and every process pauses for that user meanwhile.
 */
export function budgetedFetch(options: BudgetedFetchOptions): typeof fetch {
  const send = options.fetch ?? fetch;
  return async (input, init) => {
    for (;;) {
      await options.budget.acquire(options.owner, options.lane);
      const timeout = AbortSignal.timeout(options.sendTimeoutMs);
      const response = await send(input, {
        ...init,
        signal: init?.signal ? AbortSignal.any([init.signal, timeout]) : timeout,
      });
      const reading = readRateLimitHeaders(response.headers);
      if (reading) options.budget.observe(options.owner, reading);
      if (response.status !== 429) return response;
      await response.body?.cancel();
      const waitMs = retryAfterMs(response.headers) ?? reading?.resetInMs ?? options.budget.shape.windowMs;
      options.logger?.warn(
        { owner: options.owner, lane: options.lane, retryAfterMs: waitMs, rateLimitHeaders: reading !== null },
        reading
          ? 'Cloudflare answered 429: every worker pauses for this user until it allows requests again'
          : 'Cloudflare answered 429 without rate-limit headers, so the budget could not see the traffic that exhausted the limit: every worker pauses for this user',
      );
      await options.budget.rateLimited(options.owner, waitMs);
    }
  };
}
