import Cloudflare from 'cloudflare';

export const DEFAULT_CLOUDFLARE_BASE_URL = 'https://api.cloudflare.com/client/v4';

export interface CloudflareClientOptions {
  apiToken: string;
  /** The real API, or the simulator's `/client/v4` base. */
  baseURL?: string;
  /**
   * `reads` lets the SDK retry idempotent reads itself. Mutations (issue, rotate, delete) must
   * never be retried blindly: a lost response would burn a secret nobody saw, so callers read
   * state back before they try again.
   */
  purpose: 'reads' | 'mutations';
  timeoutMs?: number;
  /**
   * The Cloudflare user the token belongs to, whose rate limit its requests count against
   * (budgeted factories only; token-warden's own user when absent).
   */
  budgetOwner?: string;
  /** A fetch that waits for the request budget (budget/budgeted-fetch.ts) and bounds each send itself. */
  fetch?: typeof fetch;
}

export type CloudflareClientFactory = (options: CloudflareClientOptions) => Cloudflare;

/** Long enough never to cut a request short while it waits for the budget: the budget's fetch times each send. */
const BUDGETED_SDK_TIMEOUT_MS = 24 * 60 * 60 * 1000;

export const createCloudflareClient: CloudflareClientFactory = ({
  apiToken,
  baseURL,
  purpose,
  timeoutMs = 20_000,
  fetch,
}) =>
  new Cloudflare({
    apiToken,
    // Explicit nulls stop the SDK from reading other credentials out of process.env.
    apiKey: null,
    apiEmail: null,
    userServiceKey: null,
    baseURL: baseURL ?? DEFAULT_CLOUDFLARE_BASE_URL,
    maxRetries: purpose === 'reads' ? 2 : 0,
    timeout: fetch ? BUDGETED_SDK_TIMEOUT_MS : timeoutMs,
    ...(fetch ? { fetch } : {}),
  });
