import type { TokenKey } from '../secrets/pending-secrets';
import type { ActivityDeps } from './index';
import { createRotationRecordActivities, type RotationPlan } from './rotation-records';
import { createServiceTokenActivities, type ResolvedServiceToken } from './service-tokens';

/**
 * A service-token rotation's plan and step 1 (resolve) in one activity, side by side: one answer
 * for the workflow to wait on, not two (workflows/rotation/service-token.ts). A plan that fails
 * (Postgres away) is left out of the answer, for the workflow to ask for alone, so the Cloudflare
 * read is not sent again with every retry; a failed resolve is thrown, retried with the plan.
 */
export function createPlanAndResolveActivities(deps: ActivityDeps) {
  const { planRotation } = createRotationRecordActivities(deps);
  const { resolveServiceToken } = createServiceTokenActivities(deps);
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
