type SimulatorModule = typeof import('@token-warden/cloudflare-simulator');

const NOT_INSTALLED = new Set(['MODULE_NOT_FOUND', 'ERR_MODULE_NOT_FOUND', 'ERR_UNKNOWN_FILE_EXTENSION']);

/**
 * The Cloudflare simulator is a development workspace package (packages/cloudflare-simulator),
 * loaded only here, only in simulation mode: nothing reachable from the worker or API entry
 * points imports it, so the build output and the production image do not contain it.
 */
export async function loadSimulator(): Promise<SimulatorModule> {
  try {
    return await import('@token-warden/cloudflare-simulator');
  } catch (error) {
    const code = (error as { code?: unknown } | null)?.code;
    if (typeof code !== 'string' || !NOT_INSTALLED.has(code)) throw error;
    throw new Error(
      'CLOUDFLARE_API_TOKEN is not set, and simulation mode needs the Cloudflare simulator, which only a development checkout has (`npm ci`, then `npm start`). Set CLOUDFLARE_API_TOKEN to manage a real account.',
      { cause: error },
    );
  }
}
