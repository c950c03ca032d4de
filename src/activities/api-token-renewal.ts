import { durationMs } from '../config';
import { apiTokenRotationWorkflowId, managedApiTokens } from '../inventory';
import type { TokenKind } from '../health/types';
import { currentApiTokenId, type ApiTokenRotationDeps } from './api-token-rotation';
import { listAll, MAX_PAGE_SIZE } from '../cloudflare/pages';
import { toActivityFailure } from './cloudflare-errors';

/** An API token inside its `renewBefore`: what the sweep rotates, ids and dates only. */
export interface ApiTokenRenewalDue {
  accountId: string;
  tokenName: string;
  workflowId: string;
  tokenId: string;
  expiresOn: string;
  daysLeft: number;
}

type Listed = { id?: string; expires_on?: string | null };

/**
 * The expiry sweep's reads for API tokens with `rotate:`: one listing per owner (an account's
 * tokens, the user's), not one read per token. A token without an expiry never needs renewing.
 */
export function createApiTokenRenewalActivities(deps: ApiTokenRotationDeps & { now?: () => Date }) {
  const now = deps.now ?? (() => new Date());
  return {
    async findApiTokensToRenew(): Promise<ApiTokenRenewalDue[]> {
      const client = deps.wardenClient('reads');
      const listings = new Map<string, Promise<Listed[]>>();
      const listingOf = (kind: TokenKind, accountId: string): Promise<Listed[]> => {
        const key = kind === 'user' ? 'user' : accountId;
        const cached = listings.get(key);
        if (cached) return cached;
        const listed = listAll<Listed>(
          kind === 'user'
            ? client.user.tokens.list({ per_page: MAX_PAGE_SIZE })
            : client.accounts.tokens.list({ account_id: accountId, per_page: MAX_PAGE_SIZE }),
          MAX_PAGE_SIZE,
        );
        listings.set(key, listed);
        return listed;
      };
      const due: ApiTokenRenewalDue[] = [];
      for (const entry of managedApiTokens(deps.inventory)) {
        const { account, token } = entry;
        if (!token.rotate) continue;
        try {
          const key = { accountId: account.id, tokenName: token.name, credential: 'api-token' as const };
          const tokenId = await currentApiTokenId(deps, key);
          const expiresOn = (await listingOf(token.kind, account.id)).find((t) => t.id === tokenId)?.expires_on;
          if (!expiresOn) continue;
          const left = Date.parse(expiresOn) - now().getTime();
          if (left > durationMs(token.rotate.renewBefore)) continue;
          const workflowId = apiTokenRotationWorkflowId(entry);
          const daysLeft = Math.floor(left / 86_400_000);
          due.push({ accountId: account.id, tokenName: token.name, workflowId, tokenId, expiresOn, daysLeft });
        } catch (error) {
          throw toActivityFailure(error, `find whether API token ${token.name} needs renewing`);
        }
      }
      return due;
    },
  };
}
