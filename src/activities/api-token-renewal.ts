import { durationMs } from '../config';
import { apiTokenRotationWorkflowId, managedApiTokens } from '../inventory';
import type { TokenKind } from '../health/types';
import { currentApiTokenId, type ApiTokenRotationDeps } from './api-token-rotation';
import { listAll, MAX_PAGE_SIZE } from '../cloudflare/pages';
import { toActivityFailure } from './cloudflare-errors';

/** An API token the sweep rotates, ids and dates only: inside its `renewBefore`, or older than its `every`. */
export interface ApiTokenRenewalDue {
  accountId: string;
  tokenName: string;
  workflowId: string;
  tokenId: string;
  expiresOn: string | null;
  daysLeft: number | null;
  /** Absent in runs recorded before `every:` was scheduled: expiry. */
  reason?: 'expiry' | 'every';
}

type Listed = { id?: string; expires_on?: string | null; issued_on?: string | null; modified_on?: string | null };

/**
 * The expiry sweep's reads for API tokens with `rotate:`: one listing per owner (an account's
 * tokens, the user's), not one read per token. A token is due inside its `renewBefore`, or when
 * its value is older than `every` (issued then, or for `roll` last modified then): the daily
 * sweep is what schedules `every`, so a token is rotated within a day of its due date.
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
          const listed = (await listingOf(token.kind, account.id)).find((t) => t.id === tokenId);
          const expiresOn = listed?.expires_on ?? null;
          const left = expiresOn ? Date.parse(expiresOn) - now().getTime() : null;
          const expiring = left !== null && left <= durationMs(token.rotate.renewBefore);
          const valueSince =
            token.rotate.strategy === 'roll' ? (listed?.modified_on ?? listed?.issued_on) : listed?.issued_on;
          const aged =
            token.rotate.every !== undefined &&
            valueSince != null &&
            now().getTime() - Date.parse(valueSince) >= durationMs(token.rotate.every);
          if (!expiring && !aged) continue;
          due.push({
            accountId: account.id,
            tokenName: token.name,
            workflowId: apiTokenRotationWorkflowId(entry),
            tokenId,
            expiresOn,
            daysLeft: left === null ? null : Math.floor(left / 86_400_000),
            reason: expiring ? 'expiry' : 'every',
          });
        } catch (error) {
          throw toActivityFailure(error, `find whether API token ${token.name} needs renewing`);
        }
      }
      return due;
    },
  };
}
