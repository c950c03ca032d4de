import type { TokenKey } from '../secrets/pending-secrets';
import type { createRotationRecordActivities } from './rotation-records';
import type { RotationRow } from './rotation-rows';
import type { createServiceTokenActivities } from './service-tokens';

/** The two activities this one runs one after the other. */
export type RetireAndFinishParts = Pick<ReturnType<typeof createServiceTokenActivities>, 'setPreviousSecretExpiry'> &
  Pick<ReturnType<typeof createRotationRecordActivities>, 'promoteSecret'>;

/**
 * Steps 6 and 7 of a rotate-secret rotation in one call (workflows/rotation/retire-and-finish.ts):
 * the previous secret's expiry moves to now, then the new secret becomes current and the run's
 * last rows are written. Each part is idempotent, so a retry after any of them does them all again.
 * The promote's one final failure (`PendingSecretMissing`) tells the workflow retire was done.
 */
export function createRetireAndFinishActivities({ setPreviousSecretExpiry, promoteSecret }: RetireAndFinishParts) {
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
