import type { TokenKey } from '../secrets/pending-secrets';
import type { createRotationRecordActivities, RotationPlan } from './rotation-records';
import type { createServiceTokenActivities, ResolvedServiceToken } from './service-tokens';

/** The two activities this one runs side by side. */
export type PlanAndResolveParts = Pick<ReturnType<typeof createRotationRecordActivities>, 'planRotation'> &
  Pick<ReturnType<typeof createServiceTokenActivities>, 'resolveServiceToken'>;

/**
 * A service-token rotation's plan and step 1 (resolve) in one activity, side by side: one answer
 * for the workflow to wait on, not two (workflows/rotation/service-token.ts). A plan that fails
 * (Postgres away) is left out of the answer, for the workflow to ask for alone, so the Cloudflare
 * read is not sent again with every retry; a failed resolve is thrown, retried with the plan.
 */
export function createPlanAndResolveActivities({ planRotation, resolveServiceToken }: PlanAndResolveParts) {
  return {
    async planAndResolveServiceToken(
      token: TokenKey,
    ): Promise<{ plan?: RotationPlan; resolved: ResolvedServiceToken }> {
      const [plan, resolved] = await Promise.allSettled([planRotation(token), resolveServiceToken(token)]);
      if (resolved.status === 'rejected') throw resolved.reason;
      return { ...(plan.status === 'fulfilled' ? { plan: plan.value } : {}), resolved: resolved.value };
    },
  };
}
