import type Cloudflare from 'cloudflare';
import type { ApiTokenConfig } from '../config';
import { describeCloudflareError } from './cloudflare-errors';
import { permanentFailure, retryableFailure } from './failure-types';
import type { ApiTokenRotationDeps, Key } from './api-token-rotation';
import { verifyToken } from './token-credentials';

const secretWhere = (token: ApiTokenConfig) =>
  'env' in token.secretFrom ? `environment variable ${token.secretFrom.env}` : `file ${token.secretFrom.file}`;

/** The rotation of token-warden's own token (`self: true`): what it needs beyond any other API token's. */
export function createSelfTokenChecks(deps: ApiTokenRotationDeps, warden: (purpose: 'reads') => Cloudflare) {
  /**
   * token-warden's own token: the value its file holds now is on record as current (recorded on
   * its first rotation, or again when someone replaced the file), so a failed run can put it back.
   */
  async function recordSelf(key: Key, token: ApiTokenConfig): Promise<string> {
    const value = deps.readSecret(token.secretFrom);
    if (!value) throw permanentFailure('ApiTokenValueMissing', `no value for API token ${key.tokenName}`);
    const current = await deps.pending.current(key);
    if (current && (await deps.pending.open(current.ref)).clientSecret === value) return current.ref;
    const own = deps.cloudflare({ apiToken: value, baseURL: deps.cloudflareBaseURL, purpose: 'reads' });
    const { id } = await verifyToken(own, token.kind, key.accountId);
    return (await deps.pending.setCurrent(key, { clientId: id, clientSecret: value })).ref;
  }

  /** The successor is what token-warden itself now works with: its file holds it and Cloudflare sees it. */
  async function checkSwitched(key: Key, token: ApiTokenConfig, tokenId: string, value: string) {
    const notYet = (why: string) =>
      retryableFailure('WardenNotSwitched', `token-warden does not use the new value of ${key.tokenName} yet: ${why}`);
    if (deps.readSecret(token.secretFrom) !== value) throw notYet(`${secretWhere(token)} holds another value`);
    const seen = await verifyToken(warden('reads'), token.kind, key.accountId).catch((error: unknown) => {
      throw notYet(describeCloudflareError(error).message);
    });
    if (seen.id !== tokenId) throw notYet(`its requests still use token ${seen.id}`);
  }

  return { recordSelf, checkSwitched };
}
