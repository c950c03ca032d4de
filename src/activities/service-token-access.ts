import type Cloudflare from 'cloudflare';
import type { Inventory } from '../config';
import type { DiscoveredCredentialsRepository } from '../db/discovered-credentials';
import { findServiceToken } from '../inventory';
import type { PendingSecretStore, TokenKey } from '../secrets/pending-secrets';
import { describeCloudflareError, toActivityFailure } from './cloudflare-errors';
import { permanentFailure } from './failure-types';
import {
  secretVersionOf,
  toState,
  type IssuedSecret,
  type ResolvedServiceToken,
  type ServiceTokenState,
} from './service-token-state';

export interface ServiceTokenDeps {
  inventory: Pick<Inventory, 'accounts'>;
  /** A client on token-warden's own Cloudflare token. */
  wardenClient: (purpose: 'reads' | 'mutations') => Cloudflare;
  pending: Pick<PendingSecretStore, 'find' | 'stagePending' | 'open'>;
  /** Discovery's records: the ids an emergency revoke can rotate without listing first. Absent: it lists. */
  discovered?: Pick<DiscoveredCredentialsRepository, 'serviceTokenIdByName'>;
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

  /**
   * Several tokens of one name (a replace that was interrupted) resolve to the oldest, the one
   * consumers were given first; the others come back as `strays`.
   */
  async function resolveByName(token: TokenKey): Promise<ResolvedServiceToken> {
    const found = await listByName(token);
    const [oldest, ...others] = found.sort((a, b) => (a.createdAt ?? '').localeCompare(b.createdAt ?? ''));
    if (!oldest)
      throw permanentFailure('ServiceTokenNotFound', `no service token named ${token.tokenName} in Cloudflare`);
    return { ...oldest, strays: others.map((t) => t.tokenId) };
  }

  type Rotation = { tokenId: string; ref: string; previousSecretExpiresAt: string; currentVersion: number };

  /** Rotates the token's secret and stages the new one before anything else can lose it. */
  async function rotateAndStage(token: TokenKey, rotation: Rotation): Promise<IssuedSecret> {
    return (await rotateKnownAndStage(token, rotation, true))!;
  }

  /**
   * rotateAndStage of an id learnt earlier, not just read: null when Cloudflare has no token of
   * that id (a 404 is the answer then, not a failure) unless `missingFails`.
   */
  async function rotateKnownAndStage(
    token: TokenKey,
    rotation: Rotation,
    missingFails = false,
  ): Promise<IssuedSecret | null> {
    const { scope } = locate(token);
    let rotated;
    try {
      rotated = await deps.wardenClient('mutations').zeroTrust.access.serviceTokens.rotate(rotation.tokenId, {
        ...scope,
        account_id: scope.account_id ?? '',
        previous_client_secret_expires_at: rotation.previousSecretExpiresAt,
      });
    } catch (error) {
      if (!missingFails && describeCloudflareError(error).httpStatus === 404) return null;
      throw toActivityFailure(error, `rotate service token ${token.tokenName}`);
    }
    return stageIssued(token, rotation.ref, 'rotate', rotated, {
      tokenId: rotation.tokenId,
      secretVersion: secretVersionOf(rotated, rotation.currentVersion + 1),
    });
  }

  /** Stages the secret a rotate or create just answered with: until then it exists nowhere else. */
  async function stageIssued(
    token: TokenKey,
    ref: string,
    operation: 'rotate' | 'create',
    answer: { client_id?: string | null; client_secret?: string | null },
    issued: { tokenId: string; secretVersion: number },
  ): Promise<IssuedSecret> {
    if (!answer.client_secret || !answer.client_id)
      throw permanentFailure('CloudflareContract', `${operation} answered without a client secret`);
    const result = await stage(token, ref, { clientId: answer.client_id, clientSecret: answer.client_secret });
    return {
      ref: result.ref,
      fingerprint: result.fingerprint,
      tokenId: issued.tokenId,
      clientId: answer.client_id,
      secretVersion: issued.secretVersion,
    };
  }

  return { locate, listByName, read, resolveByName, rotateAndStage, rotateKnownAndStage, stageIssued };
}
