import type Cloudflare from 'cloudflare';
import type { Inventory } from '../config';
import { findServiceToken } from '../inventory';
import type { PendingSecretStore, TokenKey } from '../secrets/pending-secrets';
import { describeCloudflareError, toActivityFailure } from './cloudflare-errors';
import { permanentFailure } from './failure-types';
import { toState, type ServiceTokenState } from './service-token-state';

export interface ServiceTokenDeps {
  inventory: Pick<Inventory, 'accounts'>;
  /** A client on token-warden's own Cloudflare token. */
  wardenClient: (purpose: 'reads' | 'mutations') => Cloudflare;
  pending: Pick<PendingSecretStore, 'find' | 'stagePending' | 'open'>;
}

const stagingRetries = 5;

/** Finding, reading and staging a service token: what every service-token activity builds on. */
export function serviceTokenAccess(deps: ServiceTokenDeps) {
  function locate(token: TokenKey) {
    const entry = findServiceToken(deps.inventory, token.accountId, token.tokenName);
    if (!entry)
      throw permanentFailure(
        'UnknownServiceToken',
        `service token ${token.tokenName} is not in the inventory of account ${token.accountId}`,
      );
    // Zone-scoped tokens live under /zones/{zone_id}; everything else under the account.
    const scope = entry.token.zoneId ? { zone_id: entry.token.zoneId } : { account_id: token.accountId };
    return { entry, scope };
  }

  /**
   * One request: the name filter leaves a page or less, so the SDK's auto-pagination (which
   * asks for one more, empty page) is not used.
   */
  async function listByName(token: TokenKey): Promise<ServiceTokenState[]> {
    const { scope } = locate(token);
    try {
      const page = await deps
        .wardenClient('reads')
        .zeroTrust.access.serviceTokens.list({ ...scope, name: token.tokenName, per_page: 50 });
      return page
        .getPaginatedItems()
        .filter((item) => item.name === token.tokenName)
        .map(toState);
    } catch (error) {
      throw toActivityFailure(error, `list service tokens named ${token.tokenName}`);
    }
  }

  async function read(token: TokenKey, tokenId: string): Promise<ServiceTokenState | null> {
    const { scope } = locate(token);
    try {
      return toState(await deps.wardenClient('reads').zeroTrust.access.serviceTokens.get(tokenId, scope));
    } catch (error) {
      if (describeCloudflareError(error).httpStatus === 404) return null;
      throw toActivityFailure(error, `read service token ${token.tokenName}`);
    }
  }

  /** The staging write must not be lost once Cloudflare has answered: retry it in place. */
  async function stage(token: TokenKey, ref: string, credential: { clientId: string; clientSecret: string }) {
    for (let attempt = 1; ; attempt++) {
      try {
        return await deps.pending.stagePending(token, ref, credential);
      } catch (error) {
        if (attempt >= stagingRetries) throw error;
        await new Promise((resolve) => setTimeout(resolve, 200 * 2 ** attempt));
      }
    }
  }

  return { locate, listByName, read, stage };
}
