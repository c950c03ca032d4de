import Cloudflare from 'cloudflare';
import { startSimulator, type DemoSeed, type RunningSimulator } from '@token-warden/cloudflare-simulator';

export interface SimulatorFixture {
  simulator: RunningSimulator;
  demo: DemoSeed;
  /** An SDK client holding the demo's warden token, with SDK retries off so faults show. */
  client: Cloudflare;
}

/** The Cloudflare simulator seeded with the demo account, on a free loopback port. */
export async function startDemoSimulator(): Promise<SimulatorFixture> {
  const simulator = await startSimulator({ port: 0, seed: 'demo' });
  const demo = simulator.demo;
  const apiToken = demo?.apiTokens.warden.value;
  if (demo === undefined || apiToken == null) {
    await simulator.close();
    throw new Error('the simulator did not seed the demo account');
  }
  const client = new Cloudflare({
    apiToken,
    apiKey: null,
    apiEmail: null,
    userServiceKey: null,
    baseURL: simulator.baseURL,
    maxRetries: 0,
  });
  return { simulator, demo, client };
}
