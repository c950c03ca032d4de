import { createCloudflareClient } from '../cloudflare/client';

/** Cloudflare's envelope around a result, as the SDK expects it. */
const answered = async () => Response.json({ success: true, errors: [], messages: [], result: { id: 'warm-up' } });

/**
 * The first Cloudflare call of a worker thread pays for loading and compiling what it runs on:
 * Node's `fetch` and the SDK's request and answer path. warmUpCloudflareCalls pays it at start and
 * sends nothing: the `fetch` reads a `data:` URL, and the SDK's `rotate` (a revoke's first call)
 * is answered by a `fetch` of its own, in this process.
 */
export function createWarmUpActivities() {
  return {
    async warmUpCloudflareCalls(): Promise<void> {
      await (await fetch('data:text/plain,warm')).text();
      const local = createCloudflareClient({ apiToken: 'warm-up', purpose: 'mutations', fetch: answered });
      await local.zeroTrust.access.serviceTokens.rotate('warm-up', { account_id: 'warm-up' });
    },
  };
}
