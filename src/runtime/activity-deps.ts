import type { ActivityDeps } from '../activities';
import type { Lane } from '../cloudflare/budget/lanes';
import { createAdvisoryLock } from '../db/advisory-lock';
import { createPostgresPolicyIndex } from '../db/access-policy-index';
import { createDiscoveredCredentialsRepository } from '../db/discovered-credentials';
import type { Runtime } from './assemble-runtime';

/** The activities' dependencies on the runtime's Temporal, Postgres and Cloudflare, their Cloudflare calls in `lane`. */
export function runtimeActivityDeps(runtime: Runtime): (lane: Lane) => ActivityDeps {
  // Access policy edits are read-modify-write: one at a time per account, across the fleet.
  const policyLock = createAdvisoryLock(runtime.lockPool);
  // Which policies name which tokens: every process must see every other's binds.
  const policyIndex = createPostgresPolicyIndex(runtime.pool);
  const discovered = createDiscoveredCredentialsRepository(runtime.pool);
  return (lane) => {
    const clients = runtime.cloudflareClients(lane);
    return {
      inventory: runtime.inventory,
      readSecret: runtime.readSecret,
      cloudflare: clients.factory,
      cloudflareBaseURL: runtime.cloudflare.baseURL,
      history: runtime.history,
      rotations: runtime.rotations,
      pending: runtime.pending,
      wardenClient: clients.warden,
      stores: { ...runtime.stores, cloudflare: () => clients.warden('mutations') },
      policyLock,
      policyIndex,
      discovered,
      cloudflareBudget: { load: () => runtime.budget.load(runtime.env.CLOUDFLARE_USER) },
    };
  };
}
