import type { Inventory } from './config';
import { managedServiceTokens } from './inventory';

export interface ServiceTokenExpiry {
  accountId: string;
  tokenName: string;
  tokenId: string | null;
  expiresAt: string | null;
}

export type ListServiceTokens = (
  scope: { account_id: string } | { zone_id: string },
) => Promise<Array<{ id?: string; name?: string; expires_at?: string | null }>>;

/**
 * Every managed service token's id and expiry as Cloudflare has them: one listing per account
 * (or zone), results kept for `ttlMs` so dashboards and scrapes do not spend the API budget.
 */
export function createServiceTokenExpiryReader(
  inventory: Pick<Inventory, 'accounts'>,
  list: ListServiceTokens,
  ttlMs = 60_000,
) {
  let cached: { at: number; value: Promise<ServiceTokenExpiry[]> } | undefined;
  async function read(): Promise<ServiceTokenExpiry[]> {
    const listings = new Map<string, Promise<Awaited<ReturnType<ListServiceTokens>>>>();
    return Promise.all(
      managedServiceTokens(inventory).map(async ({ account, token }) => {
        const scope = token.zoneId ? { zone_id: token.zoneId } : { account_id: account.id };
        const key = JSON.stringify(scope);
        if (!listings.has(key))
          listings.set(
            key,
            list(scope).catch(() => []),
          );
        const live = (await listings.get(key)!)
          .filter((t) => t.name === token.name)
          .sort((a, b) => (a.expires_at ?? '').localeCompare(b.expires_at ?? ''))[0];
        return {
          accountId: account.id,
          tokenName: token.name,
          tokenId: live?.id ?? null,
          expiresAt: live?.expires_at ?? null,
        };
      }),
    );
  }
  return (): Promise<ServiceTokenExpiry[]> => {
    if (!cached || Date.now() - cached.at > ttlMs) cached = { at: Date.now(), value: read() };
    return cached.value;
  };
}
