import { createWarmUpActivities } from './warm-up';
import type Cloudflare from 'cloudflare';
import type { Inventory } from '../config';
import type { HistoryRepository } from '../db/history-repository';
import type { RotationRepository } from '../db/rotation-repository';
import type { PendingSecretStore } from '../secrets/pending-secrets';
import type { StoreDeps } from '../stores';
import { createAccessPolicyActivities, type PolicyIndex, type PolicyLock } from './access-policies';
import { createCloudflareBudgetActivities, type CloudflareBudgetDeps } from './cloudflare-budget';
import { createApiTokenRenewalActivities } from './api-token-renewal';
import { createApiTokenRotationActivities } from './api-token-rotation';
import { createApiTokenVerificationActivities, type ApiTokenVerificationDeps } from './api-token-verification';
import { createDiscoveryActivities, createDiscoveryLocalActivities, type DiscoveryDeps } from './discovery';
import { createHistoryActivities } from './history';
import { createNotifyActivities } from './notify';
import { createPlanAndResolveActivities } from './plan-and-resolve';
import { createPropagationActivities } from './propagation';
import { createRetireAndFinishActivities } from './retire-and-finish';
import { createRotationRecordActivities } from './rotation-records';
import { createRotationRowActivities } from './rotation-rows';
import { createServiceTokenActivities, type ServiceTokenDeps } from './service-tokens';
import { createServiceTokenInventoryActivities } from './service-token-inventory';
import { createTokenHealthActivities } from './token-health';
import { createTokenHealthLocalActivities } from './token-health-local';

export interface ActivityDeps extends ApiTokenVerificationDeps, CloudflareBudgetDeps {
  inventory: Pick<Inventory, 'accounts' | 'notify'>;
  history: Pick<
    HistoryRepository,
    'recordAudit' | 'recordApiTokenCheck' | 'loadTokenIdentities' | 'saveTokenIdentities'
  >;
  rotations: Pick<RotationRepository, 'startRotation' | 'recordStep' | 'finishRotation'>;
  pending: PendingSecretStore;
  /** A client on token-warden's own Cloudflare token. */
  wardenClient: (purpose: 'reads' | 'mutations') => Cloudflare;
  stores: StoreDeps;
  fetch?: typeof fetch;
  /** Serialises Access policy edits per account (see access-policies.ts); in-process when absent. */
  policyLock?: PolicyLock;
  /** Which Access policies name which service tokens, shared by every worker; in-process when absent. */
  policyIndex?: PolicyIndex;
  /** Discovery's records in Postgres (its runs write them, an emergency revoke reads ids); absent in harnesses that never run discovery. */
  discovered?: NonNullable<DiscoveryDeps['discovered']> & NonNullable<ServiceTokenDeps['discovered']>;
}

/** Activities that call Cloudflare; they run on the rate-limited Cloudflare task queue. */
export function createCloudflareActivities(deps: ActivityDeps) {
  const serviceTokens = createServiceTokenActivities(deps);
  // Two steps in one call, for fewer round trips: made of the activities they combine.
  const parts = { ...serviceTokens, ...createRotationRecordActivities(deps) };
  return {
    ...createApiTokenVerificationActivities(deps),
    ...createApiTokenRotationActivities(deps),
    ...createApiTokenRenewalActivities(deps),
    ...serviceTokens,
    ...createRetireAndFinishActivities(parts),
    ...createPlanAndResolveActivities(parts),
    ...createAccessPolicyActivities(deps),
    ...createServiceTokenInventoryActivities(deps),
    ...createTokenHealthActivities(deps),
    ...createDiscoveryActivities(deps),
    // Workers and Secrets Store targets are Cloudflare calls too.
    ...createPropagationActivities(deps),
    ...createWarmUpActivities(),
  };
}

/** Everything else: Postgres writes, other stores, the probe, on the main task queue. */
export function createLocalActivities(deps: ActivityDeps) {
  return {
    ...createHistoryActivities(deps.history),
    ...createCloudflareBudgetActivities(deps),
    ...createRotationRecordActivities(deps),
    ...createRotationRowActivities(deps),
    ...createTokenHealthLocalActivities(deps),
    ...createNotifyActivities(deps),
    ...createDiscoveryLocalActivities(deps),
    ...createPropagationActivities(deps),
  };
}

export type CloudflareActivities = ReturnType<typeof createCloudflareActivities>;
export type LocalActivities = ReturnType<typeof createLocalActivities>;
