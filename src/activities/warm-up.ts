import type Cloudflare from 'cloudflare';

/**
 * The first Cloudflare call of a worker thread pays for loading what it runs on: Node's `fetch`
 * and the SDK's resource classes. warmUpCloudflareCalls pays it at start, and sends nothing:
 * the `fetch` reads a `data:` URL, and the client is built, not used.
 */
export function createWarmUpActivities(deps: { wardenClient: (purpose: 'reads' | 'mutations') => Cloudflare }) {
  return {
    async warmUpCloudflareCalls(): Promise<void> {
      await (await fetch('data:text/plain,warm')).text();
      void deps.wardenClient('mutations').zeroTrust.access.serviceTokens;
    },
  };
}
