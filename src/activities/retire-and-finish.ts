import { ApplicationFailure } from '@temporalio/activity';
import type { TokenKey } from '../secrets/pending-secrets';
import type { ActivityDeps } from './index';
import { createRotationRecordActivities } from './rotation-records';
import type { RotationRow } from './rotation-rows';
import { createServiceTokenActivities } from './service-tokens';

/**
 * Steps 6 and 7 of a rotate-secret rotation in one call (workflows/rotation/retire-and-finish.ts):
 * the previous secret's expiry moves to now, then the new secret becomes current and the run's
 * last rows are written. Each part is idempotent, so a retry after any of them does them all again.
 * A final failure of the promote says so (`details: [{ failedStep: 'finish' }]`): retire was done.
 */
export function createRetireAndFinishActivities(deps: ActivityDeps) {
  const { setPreviousSecretExpiry } = createServiceTokenActivities(deps);
  const { promoteSecret } = createRotationRecordActivities(deps);
  return {
    async retirePreviousSecretAndPromote(
      input: TokenKey & { tokenId: string; expiresAt: string; ref: string; rows?: RotationRow[] },
    ) {
      const { ref, rows, ...retire } = input;
      await setPreviousSecretExpiry(retire);
      return promoteSecret({ ref, ...(rows ? { rows } : {}) }).catch((error: unknown) => {
        throw failedAtFinish(error);
      });
    },
  };
}

/** A final failure of the promote, marked as the finish step's; any other error as it is. */
export function failedAtFinish(error: unknown): unknown {
  if (!(error instanceof ApplicationFailure) || !error.nonRetryable) return error;
  return ApplicationFailure.create({
    type: error.type ?? undefined,
    message: error.message,
    nonRetryable: true,
    details: [{ failedStep: 'finish' }],
  });
}
