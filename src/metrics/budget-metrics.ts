import { Counter, Gauge, type Registry } from 'prom-client';
import type { BudgetState } from '../db/metrics-queries';

/**
 * The Cloudflare request budget every worker shares, one row per Cloudflare user (`owner`) in
 * Postgres. Its counts only grow, so they are counters even though this process only reads them.
 */
export function registerBudgetMetrics(registry: Registry, budgets: () => Promise<BudgetState[]>): void {
  new Counter({
    name: 'token_warden_cloudflare_budget_requests_total',
    help: 'Requests to Cloudflare taken from the shared budget, by Cloudflare user',
    labelNames: ['owner'],
    registers: [registry],
    async collect() {
      const rows = await budgets();
      this.reset();
      for (const row of rows) this.inc({ owner: row.owner }, row.granted);
    },
  });
  new Counter({
    name: 'token_warden_cloudflare_budget_rate_limited_total',
    help: "Cloudflare's 429 answers to token-warden's requests, by Cloudflare user (each paused every worker for that user)",
    labelNames: ['owner'],
    registers: [registry],
    async collect() {
      const rows = await budgets();
      this.reset();
      for (const row of rows) this.inc({ owner: row.owner }, row.rateLimited);
    },
  });
  new Gauge({
    name: 'token_warden_cloudflare_budget_blocked_until_timestamp_seconds',
    help: "Until when Cloudflare's last 429 blocks a user's requests (0: never blocked)",
    labelNames: ['owner'],
    registers: [registry],
    async collect() {
      const rows = await budgets();
      this.reset();
      for (const row of rows) this.set({ owner: row.owner }, row.blockedUntil / 1000);
    },
  });
  new Gauge({
    name: 'token_warden_cloudflare_budget_remaining_requests',
    help: "Requests left in Cloudflare's current rate-limit window for a user, as its headers last said, less what token-warden sent since (absent: unknown)",
    labelNames: ['owner'],
    registers: [registry],
    async collect() {
      const rows = await budgets();
      this.reset();
      for (const row of rows)
        if (row.cloudflareRemaining !== null) this.set({ owner: row.owner }, row.cloudflareRemaining);
    },
  });
}
