import { log, proxyActivities, workflowInfo } from '@temporalio/workflow';
import type { CloudflareActivities, LocalActivities } from '../activities';
import type { DiscoveryListing, DiscoverySummary } from '../activities/discovery';
import { cloudflareCalls, historyWrites, localWork } from './activity-options';
import { cloudflareQueue } from './lanes';
import type { Trigger } from './triggers';

export interface DiscoverCredentialsInput {
  trigger: Trigger;
}

const records = proxyActivities<LocalActivities>(historyWrites);
const local = proxyActivities<LocalActivities>(localWork);

/**
 * Daily: every Access service token and API token visible to token-warden's token in the
 * inventory's accounts, recorded in Postgres as managed or not, with expiry, last use and
 * over-privilege. Only reads: nothing is changed in Cloudflare. Its requests go in the
 * scheduled lane of the budget, one paginated list per kind and account.
 */
export async function discoverCredentials(input: DiscoverCredentialsInput): Promise<DiscoverySummary> {
  const { workflowId, runId, startTime } = workflowInfo();
  const cloudflare = proxyActivities<CloudflareActivities>({
    ...cloudflareCalls,
    taskQueue: cloudflareQueue('scheduled'),
  });
  // 1. audit
  await records.recordAudit({
    actor: input.trigger.actor,
    action: 'discover-credentials',
    subject: 'credentials',
    workflowId,
    runId,
  });
  // 2. list every kind in every account (the user's tokens once), side by side
  const accountIds = await local.discoveryAccounts();
  const listings: DiscoveryListing[] = await Promise.all([
    ...accountIds.map((accountId) => cloudflare.discoverAccountCredentials({ runId, accountId })),
    cloudflare.discoverUserApiTokens({ runId }),
  ]);
  // 3. mark what the lists read in full no longer hold as gone, and record the run
  const summary = await local.finishDiscovery({
    runId,
    workflowId,
    triggeredBy: input.trigger.actor,
    startedAt: startTime.toISOString(),
    accountIds,
    covered: listings.flatMap((listing) => listing.covered),
    skipped: listings.flatMap((listing) => listing.skipped),
    cloudflareCalls: listings.reduce((sum, listing) => sum + listing.cloudflareCalls, 0),
  });
  log.info('credential discovery finished', { ...summary });
  return summary;
}
