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

/** Reads every managed token's expiry; `changedSince` (a rotation's end) refuses a listing older than it. */
export type ReadServiceTokenExpiry = (options?: { changedSince?: Date }) => Promise<ServiceTokenExpiry[]>;

/**
 * Every managed service token's id and expiry as Cloudflare has them: one listing per account
 * (or zone), results kept for `ttlMs` so dashboards and scrapes do not spend the API budget,
 * unless a rotation ended after the listing was taken (a replaced token's id and expiry change).
 */
export function createServiceTokenExpiryReader(
  inventory: Pick<Inventory, 'accounts'>,
  list: ListServiceTokens,
  ttlMs = 60_000,
): ReadServiceTokenExpiry {
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
  return ({ changedSince } = {}) => {
    const stale = !cached || Date.now() - cached.at > ttlMs || (changedSince && changedSince.getTime() >= cached.at);
    if (stale) cached = { at: Date.now(), value: read() };
    return cached!.value;
  };
}
