import { sleep } from '@temporalio/workflow';
import { rotateServiceToken as released } from '../../src/workflows/rotation/rotate-service-token';

export * from '../../src/workflows';

/** An edit that looks harmless (a short wait before the first step) but changes the commands. */
export async function rotateServiceToken(...args: Parameters<typeof released>): ReturnType<typeof released> {
  await sleep('1 second');
  return released(...args);
}
