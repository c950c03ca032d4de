import type { IssuedApiToken, ResolvedApiToken } from '../../activities/api-token-rotation';
import { apiTokens } from './api-token';
import {
  compensateAndFail,
  complete,
  failAfterRetire,
  promote,
  promoteAndComplete,
  type RotationResult,
} from './endings';
import { propagateAndVerify } from './propagate-and-verify';
import { RotationRun, type RotateServiceTokenInput } from './run';
import { waitForConsumers } from './wait';

export type RotateApiTokenInput = Omit<RotateServiceTokenInput, 'credential'>;

/**
 * Rotates one Cloudflare API token on the rotation engine (DESIGN.md §4; README beside): the
 * same steps, saga, recorder, endings and messages as a service token, with the API-token kind
 * (api-token.ts). An emergency kills the old value first (a roll nobody keeps the value of),
 * then a successor is issued. Verify asks Cloudflare with the new value (tokens/verify and the
 * inventory's required permissions) beside every store's read-back; retire deletes the old
 * token only after that and the wait.
 */
export async function rotateApiToken(input: RotateApiTokenInput): Promise<RotationResult> {
  const run = new RotationRun({ ...input, credential: 'api-token' });
  try {
    return await rotate(run);
  } finally {
    await run.recorder.flush();
  }
}

async function rotate(run: RotationRun): Promise<RotationResult> {
  run.recorder.open();
  run.begin(await run.records.planRotation(run.token));
  await run.recordAudit();
  await run.recordStart();

  let resolved: ResolvedApiToken | undefined;
  let issued: IssuedApiToken | undefined;
  try {
    // 1. resolve, 0. an emergency's kill, 2. issue
    resolved = await apiTokens.resolve(run);
    // token-warden's own token is not killed first: the successor is issued on it, and retire
    // deletes it as soon as token-warden works with the successor (the wait is cut short).
    if (run.revoked() && !resolved.self) await apiTokens.kill(run, resolved);
    issued = await apiTokens.issue(run, resolved);
    // 3. propagate and 4. verify — every store reads back the new value, Cloudflare accepts it
    await propagateAndVerify(run, issued, apiTokens.strategy(run).onPropagationFailure(run, resolved));
    // 5. wait
    await waitForConsumers(run);
  } catch (error) {
    return compensateAndFail(run, error);
  }

  const old = resolved;
  const fresh = issued;
  try {
    // 6. retire — the old token goes; 7. finish — the new value becomes current
    await apiTokens.strategy(run).retire(run, old);
    if (run.patches.rowsRideAlong) return await promoteAndComplete(run, fresh);
    await promote(run, fresh);
  } catch (error) {
    return failAfterRetire(run, error);
  }
  return complete(run, fresh);
}
