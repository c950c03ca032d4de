import type { BudgetLoad } from '../cloudflare/budget/store';

export interface CloudflareBudgetLoad extends BudgetLoad {
  /** The budget's pace: one request per this many ms. */
  emissionMs: number;
}

export interface CloudflareBudgetDeps {
  /** The shared budget of token-warden's own Cloudflare user; absent, fan-outs do not pace themselves by it. */
  cloudflareBudget?: { load(): Promise<CloudflareBudgetLoad> };
}

export function createCloudflareBudgetActivities(deps: CloudflareBudgetDeps) {
  return {
    /** Requests the budget has granted so far: two readings tell a fan-out how busy Cloudflare's lane is. */
    async readCloudflareBudgetLoad(): Promise<CloudflareBudgetLoad | null> {
      return deps.cloudflareBudget ? deps.cloudflareBudget.load() : null;
    },
  };
}
