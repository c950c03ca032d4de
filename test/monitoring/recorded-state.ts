import { randomBytes } from 'node:crypto';
import { createTokenHealthLocalActivities } from '../../src/activities/token-health-local';
import { budgetShape } from '../../src/cloudflare/budget/shape';
import { createPostgresBudgetStore } from '../../src/db/cloudflare-budget-store';
import { createDiscoveredCredentialsRepository } from '../../src/db/discovered-credentials';
import type { HealOutcome, TokenHealth } from '../../src/health/evaluate';
import type { TokenHealthReport } from '../../src/health/report';
import type { Stack } from '../support/stack';

const DAY_MS = 86_400_000;

function apiToken(
  accountId: string,
  name: string,
  kind: TokenHealth['kind'],
  state: TokenHealth['state'],
): TokenHealth {
  const missing = state === 'degraded' ? ['Workers Scripts Write'] : [];
  const expiresOn = new Date(Date.now() + 40 * DAY_MS).toISOString();
  return {
    accountId,
    name,
    kind,
    tokenId: `tok-${name.toLowerCase()}`,
    isValid: state !== 'unhealthy',
    isActive: state !== 'unhealthy',
    status: state === 'unhealthy' ? 'disabled' : 'active',
    expiresOn,
    daysUntilExpiry: 40,
    permissionsReadable: true,
    requirements: missing.map((permission) => ({
      permission,
      state: 'missing',
      groupId: 'g1',
      groupName: permission,
      key: null,
    })),
    missingPermissions: missing,
    hasAllPermissions: missing.length === 0,
    extraPermissions: [],
    problem: state === 'unhealthy' ? 'status disabled' : null,
    readVia: 'self',
    state,
    verificationUrl: 'https://api.cloudflare.com/client/v4/user/tokens/verify',
  };
}

function failedHeal(token: TokenHealth): HealOutcome {
  return {
    accountId: token.accountId,
    name: token.name,
    kind: token.kind,
    tokenId: token.tokenId,
    success: false,
    dryRun: false,
    updated: false,
    via: null,
    permissionsAdded: [],
    permissionsAlreadyPresent: [],
    wouldAdd: [],
    notAdded: [{ permission: 'Workers Scripts Write', reason: 'denied by a policy' }],
    message: 'Could not add Workers Scripts Write (denied by a policy)',
  };
}

/**
 * State as token-warden's own writers leave it in Postgres: a completed then a failed rotation
 * of `serviceToken`; a health check that healed (one token degraded with a failed heal, one
 * unhealthy) and found token-warden's own token short of a permission; a Cloudflare budget that
 * took requests, read an exhausted allowance and got a 429.
 */
export async function recordMonitoringState(stack: Stack, serviceToken: string): Promise<void> {
  const accountId = stack.inventory.accounts[0]!.id;
  for (const status of ['completed', 'failed'] as const) {
    const runId = randomBytes(8).toString('hex');
    await stack.rotations.startRotation({
      runId,
      workflowId: `rotate/${accountId}/${serviceToken}`,
      accountId,
      tokenName: serviceToken,
      strategy: 'rotate-secret',
      mode: 'manual',
      triggeredBy: 'api:test',
    });
    await stack.rotations.finishRotation(runId, status, {});
  }

  const degraded = apiToken(accountId, 'CLOUDFLARE_ACCOUNT_TOKEN', 'account', 'degraded');
  const unhealthy = apiToken(accountId, 'CLOUDFLARE_USER_TOKEN', 'user', 'unhealthy');
  const report: TokenHealthReport = {
    workflowId: 'check-token-health/monitoring',
    runId: randomBytes(8).toString('hex'),
    timestamp: new Date().toISOString(),
    triggeredBy: 'schedule:token-warden/check-token-health',
    autoHeal: true,
    dryRun: false,
    checkedHealth: 'unhealthy',
    overallHealth: 'unhealthy',
    tokens: [degraded, unhealthy],
    heal: [failedHeal(degraded), failedHeal(unhealthy)],
    selfAudit: {
      tokenId: 'tok-warden',
      kind: 'account',
      isValid: true,
      isActive: true,
      status: 'active',
      expiresOn: new Date(Date.now() + 90 * DAY_MS).toISOString(),
      daysUntilExpiry: 90,
      permissionsReadable: true,
      needs: [{ permission: 'Access: Service Tokens Write', purpose: 'rotation', accountId, held: false }],
      missing: [`Access: Service Tokens Write (rotation, account ${accountId})`],
      problem: null,
    },
    catalogueProblem: null,
    recommendations: [],
  };
  const local = createTokenHealthLocalActivities({
    inventory: stack.inventory,
    history: stack.history,
    readSecret: () => undefined,
    wardenClient: () => {
      throw new Error('recording a report makes no Cloudflare request');
    },
  });
  await local.recordTokenHealth(report);

  const budget = createPostgresBudgetStore(stack.db.pool);
  const shape = budgetShape({ requestsPerWindow: 900, windowMs: 300_000 });
  for (let i = 0; i < 3; i++) await budget.take('monitoring-user', 'scheduled', shape);
  await budget.block('monitoring-user', 1_000);
  await budget.observe('monitoring-user', { remaining: 0, resetInMs: 120_000, windowMs: 300_000 }, shape);

  // A discovery that found one unmanaged, never-expiring service token beside the managed one.
  const discovered = createDiscoveredCredentialsRepository(stack.db.pool);
  const found = { accountId, kind: 'service-token' as const, zoneId: null, status: 'active', lastUsedAt: null };
  const none = { createdAt: null, overPrivileged: null, permissions: null, inventoryName: null };
  await discovered.upsertCredentials('discovery-monitoring', [
    {
      ...found,
      ...none,
      id: 'st-managed',
      name: serviceToken,
      managed: true,
      inventoryName: serviceToken,
      expiresAt: new Date(Date.now() + 20 * DAY_MS).toISOString(),
    },
    { ...found, ...none, id: 'st-unmanaged', name: 'hand-made', managed: false, expiresAt: null },
  ]);
}
