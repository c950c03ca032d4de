import { defineSignal, proxyActivities, setHandler } from '@temporalio/workflow';
import type { FloorActivities } from './floor';

/**
 * The bare floor of an emergency revoke (bench only): started by `signalWithStart` like a revoke,
 * one activity, one HTTP request to the simulator. Whatever a revoke takes beyond this is
 * token-warden's own path (its steps before the `rotate`, its queues, its budget).
 */
export const floorSignal = defineSignal<[]>('floor');

const { callSimulator } = proxyActivities<FloorActivities>({
  startToCloseTimeout: '30s',
  retry: { maximumAttempts: 3 },
});

export async function benchFloor(input: { url: string }): Promise<number> {
  setHandler(floorSignal, () => undefined);
  return callSimulator(input.url);
}
