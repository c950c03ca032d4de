import type { TokenKey } from '../secrets/pending-secrets';
import type { ActivityDeps } from './index';
import { createRotationRecordActivities } from './rotation-records';
import type { RotationRow } from './rotation-rows';
import { createServiceTokenActivities } from './service-tokens';

/**
 * Steps 6 and 7 of a rotate-secret rotation in one call (workflows/rotation/retire-and-finish.ts):
 * the previous secret's expiry moves to now, then the new secret becomes current and the run's
 * last rows are written. Each part is idempotent, so a retry after any of them does them all again.
 * The promote's one final failure (`PendingSecretMissing`) tells the workflow retire was done.
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
      return promoteSecret({ ref, ...(rows ? { rows } : {}) });
    },
  };
}
