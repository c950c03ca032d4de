import { Gauge, type Registry } from 'prom-client';
import type { DiscoveredCounts } from '../db/discovered-credentials';

/**
 * What the newest discovery runs found and an auditor asks about first: credentials in the
 * accounts that no inventory entry manages, and those that never expire. Present ones only (a
 * credential a later run no longer found is not counted).
 */
export function registerDiscoveryMetrics(registry: Registry, counts: () => Promise<DiscoveredCounts[]>): void {
  const labelNames = ['account_id', 'kind'] as const;
  new Gauge({
    name: 'token_warden_unmanaged_credentials',
    help: 'Access service tokens and API tokens in the account that no inventory entry manages, at the newest discovery',
    labelNames,
    registers: [registry],
    async collect() {
      const rows = await counts();
      this.reset();
      for (const row of rows) this.set({ account_id: row.accountId, kind: row.kind }, row.unmanaged);
    },
  });
  new Gauge({
    name: 'token_warden_credentials_without_expiry',
    help: 'Access service tokens and API tokens in the account that never expire, at the newest discovery',
    labelNames,
    registers: [registry],
    async collect() {
      const rows = await counts();
      this.reset();
      for (const row of rows) this.set({ account_id: row.accountId, kind: row.kind }, row.withoutExpiry);
    },
  });
}
