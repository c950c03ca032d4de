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
}

export type CloudflareClientFactory = (options: CloudflareClientOptions) => Cloudflare;

export const createCloudflareClient: CloudflareClientFactory = ({ apiToken, baseURL, purpose, timeoutMs = 20_000 }) =>
  new Cloudflare({
    apiToken,
    // Explicit nulls stop the SDK from reading other credentials out of process.env.
    apiKey: null,
    apiEmail: null,
    userServiceKey: null,
    baseURL: baseURL ?? DEFAULT_CLOUDFLARE_BASE_URL,
    maxRetries: purpose === 'reads' ? 2 : 0,
    timeout: timeoutMs,
  });
