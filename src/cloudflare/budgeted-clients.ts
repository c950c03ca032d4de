import type Cloudflare from 'cloudflare';
import { budgetedFetch } from './budget/budgeted-fetch';
import type { Lane } from './budget/lanes';
import type { BudgetLogger, RequestBudget } from './budget/request-budget';
import { createCloudflareClient, type CloudflareClientFactory } from './client';

export interface LaneClients {
  /** A client on token-warden's own token. */
  warden(purpose: 'reads' | 'mutations'): Cloudflare;
  /** Clients on other API tokens (health checks on a token's own value). */
  factory: CloudflareClientFactory;
}

export interface BudgetedClientsOptions {
  budget: RequestBudget;
  warden: { apiToken: string; baseURL?: string; owner: string };
  /** Bounds each request's send (not its wait for the budget). */
  timeoutMs?: number;
  logger?: BudgetLogger;
}

/**
 * Cloudflare clients whose every request takes a unit of the shared budget in one lane. A
 * process builds one set per lane; activities receive the set of the lane their task queue
 * serves.
 */
export function createBudgetedClients(options: BudgetedClientsOptions): (lane: Lane) => LaneClients {
  const timeoutMs = options.timeoutMs ?? 20_000;
  return (lane) => {
    const fetchFor = (owner: string) => budgetedFetch({ budget: options.budget, owner, lane, sendTimeoutMs: timeoutMs, logger: options.logger });
    const factory: CloudflareClientFactory = (client) => createCloudflareClient({ ...client, timeoutMs, fetch: fetchFor(client.budgetOwner ?? options.warden.owner) });
    return {
      warden: (purpose) => factory({ apiToken: options.warden.apiToken, baseURL: options.warden.baseURL, purpose }),
      factory,
    };
  };
}
