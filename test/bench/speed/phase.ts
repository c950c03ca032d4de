import { startFloorWorker } from '../floor';
import type { BenchStack } from '../stack';
import { measureApi, type ApiSpeedOptions } from './api';
import type { SpeedSection } from './report';
import { startRotationFloor } from './rotation-floor';
import { measureRevokes, measureRotations, speedTokens } from './rotation';

export const SPEED_PARTS = ['p3', 'p4', 'p5'] as const;
export type SpeedPart = (typeof SPEED_PARTS)[number];

/**
 * The speed stack beside the production defaults: one worker process, the API with one client and
 * a rate limit P5's load never reaches (the limiter still runs on every request).
 */
export const SPEED_STACK = {
  workers: 1,
  api: { pollers: 1 },
  apiEnv: { API_RATE_LIMIT_PER_MINUTE: '100000000' },
};

/** P5's load: rounds per route (each beside a bare round), their length, the concurrent loops. */
const SPEED_LOAD = { rounds: 5, roundMs: 2_000, concurrency: 16 };

export interface SpeedOptions {
  parts: ReadonlySet<SpeedPart>;
  /** Samples (and as many floors) of P3 and of P4. */
  samples: number;
  historyRows: ApiSpeedOptions['historyRows'];
  temporalAddress: string;
  log: (line: string) => void;
}

/** Service tokens the speed stack needs: P3's and P4's samples and one unmeasured warm-up of each, each on a token of its own. */
export const speedTokenCount = (samples: number) => Math.max(3, 2 * samples + 2);

/** P3, P4 and P5 on one idle stack, one after another. */
export async function runSpeed(stack: BenchStack, options: SpeedOptions): Promise<SpeedSection> {
  const { parts, samples, log } = options;
  const section: SpeedSection = {};
  if (parts.has('p3')) {
    const floor = await startRotationFloor({
      address: options.temporalAddress,
      client: stack.client,
      keys: stack.keys,
    });
    section.rotations = await measureRotations(stack, floor, speedTokens(stack, 0, samples + 1), log).finally(() =>
      floor.shutdown(),
    );
  }
  if (parts.has('p4')) {
    const floor = await startFloorWorker({
      address: options.temporalAddress,
      client: stack.client,
      keys: stack.keys,
      baseURL: stack.sim.baseURL,
      accountId: stack.world.accountId,
      requests: stack.requests,
    });
    section.revokes = await measureRevokes(stack, floor, speedTokens(stack, samples + 1, samples + 1), log).finally(
      () => floor.shutdown(),
    );
  }
  if (parts.has('p5')) section.api = await measureApi(stack, { ...SPEED_LOAD, historyRows: options.historyRows, log });
  return section;
}
