import { startFloorWorker } from '../floor';
import type { BenchStack } from '../stack';
import { measureApi, type ApiSpeedOptions } from './api';
import type { SpeedSection } from './report';
import { startRotationFloor } from './rotation-floor';
import { measureRevokes, measureRotations, speedTokens } from './rotation';

export const SPEED_PARTS = ['p3', 'p4', 'p5'] as const;
export type SpeedPart = (typeof SPEED_PARTS)[number];

export interface SpeedOptions {
  parts: ReadonlySet<SpeedPart>;
  /** Samples (and as many floors) of P3 and of P4. */
  samples: number;
  api: Omit<ApiSpeedOptions, 'log'>;
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
  if (parts.has('p5')) section.api = await measureApi(stack, { ...options.api, log });
  return section;
}
