import { durationMs, type Inventory } from '../config';
import { managedServiceTokens } from '../inventory';
import type Cloudflare from 'cloudflare';
import { toActivityFailure } from './cloudflare-errors';

export interface ServiceTokenInventoryDeps {
  inventory: Pick<Inventory, 'accounts'>;
  wardenClient: (purpose: 'reads' | 'mutations') => Cloudflare;
  now?: () => Date;
}

export interface ManagedTokenRef {
  accountId: string;
  tokenName: string;
}

export interface RenewalDue extends ManagedTokenRef {
  tokenId: string;
  expiresAt: string;
  daysLeft: number;
  action: 'rotate' | 'refresh';
}

/** Inventory reads for the fan-out and the expiry sweep; ids and dates only. */
export function createServiceTokenInventoryActivities(deps: ServiceTokenInventoryDeps) {
  const now = deps.now ?? (() => new Date());
  return {
    async listManagedServiceTokens(): Promise<ManagedTokenRef[]> {
      return managedServiceTokens(deps.inventory).map(({ account, token }) => ({
        accountId: account.id,
        tokenName: token.name,
      }));
    },

    /**
     * cert-manager style: every managed token whose expiry is inside its `renewBefore`. One
     * listing per account (or zone), not one read per token.
     */
    async findServiceTokensToRenew(): Promise<RenewalDue[]> {
      const due: RenewalDue[] = [];
      const client = deps.wardenClient('reads');
      const byScope = new Map<string, Array<{ id?: string; name?: string; expires_at?: string }>>();
      for (const { account, token } of managedServiceTokens(deps.inventory)) {
        const scope = token.zoneId ? { zone_id: token.zoneId } : { account_id: account.id };
        const key = JSON.stringify(scope);
        if (!byScope.has(key)) {
          const listed: Array<{ id?: string; name?: string; expires_at?: string }> = [];
          try {
            for await (const item of client.zeroTrust.access.serviceTokens.list(scope)) listed.push(item);
          } catch (error) {
            throw toActivityFailure(error, 'list service tokens');
          }
          byScope.set(key, listed);
        }
        // Of several tokens of one name (an interrupted replace), the oldest expiry decides.
        const live = byScope
          .get(key)!
          .filter((t) => t.name === token.name && t.id && t.expires_at)
          .sort((a, b) => a.expires_at!.localeCompare(b.expires_at!))[0];
        if (!live?.id || !live.expires_at) continue;
        const left = Date.parse(live.expires_at) - now().getTime();
        if (left > durationMs(token.renewBefore)) continue;
        due.push({
          accountId: account.id,
          tokenName: token.name,
          tokenId: live.id,
          expiresAt: live.expires_at,
          daysLeft: Math.floor(left / 86_400_000),
          action: token.renewAction,
        });
      }
      return due;
    },
  };
}
