import type Cloudflare from 'cloudflare';
import { budgetedFetch } from './budget/budgeted-fetch';
import type { Lane } from './budget/lanes';
import type { BudgetLogger, RequestBudget } from './budget/request-budget';
import { createCloudflareClient, type CloudflareClientFactory, type CloudflareClientOptions } from './client';
import { wardenFetch } from './warden-fetch';

export interface LaneClients {
  /** A client on token-warden's own token. */
  warden(purpose: 'reads' | 'mutations'): Cloudflare;
  /** Clients on other API tokens (health checks on a token's own value). */
  factory: CloudflareClientFactory;
}

export interface BudgetedClientsOptions {
  budget: RequestBudget;
  /** token-warden's own token: a function when it can change while the process runs (warden-token.ts). */
  warden: { apiToken: string | (() => string); baseURL?: string; owner: string };
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
  const { apiToken } = options.warden;
  const wardenToken = typeof apiToken === 'function' ? apiToken : () => apiToken;
  const byLane = new Map<Lane, LaneClients>();
  const build = (lane: Lane): LaneClients => {
    // Building an SDK client costs milliseconds (it sets up every API resource): activities reuse them.
    const clients = new Map<string, Cloudflare>();
    const clientFor = (client: CloudflareClientOptions, own: boolean) => {
      const owner = client.budgetOwner ?? options.warden.owner;
      const key = JSON.stringify([client.apiToken, client.baseURL ?? null, client.purpose, owner, own]);
      let found = clients.get(key);
      if (!found) {
        if (clients.size >= MAX_CLIENTS_PER_LANE) clients.clear();
        const meter = (send?: typeof fetch) =>
          budgetedFetch({
            budget: options.budget,
            owner,
            lane,
            sendTimeoutMs: timeoutMs,
            logger: options.logger,
            ...(send ? { fetch: send } : {}),
          });
        found = createCloudflareClient({
          ...client,
          timeoutMs,
          fetch: own ? wardenFetch(wardenToken, meter) : meter(),
        });
        clients.set(key, found);
      }
      return found;
    };
    return {
      warden: (purpose) => clientFor({ apiToken: wardenToken(), baseURL: options.warden.baseURL, purpose }, true),
      factory: (client) => clientFor(client, false),
    };
  };
  return (lane) => {
    let found = byLane.get(lane);
    if (!found) byLane.set(lane, (found = build(lane)));
    return found;
  };
}

/** Clients kept per lane: token-warden's own two and one or two per API token it checks. */
const MAX_CLIENTS_PER_LANE = 1_000;
