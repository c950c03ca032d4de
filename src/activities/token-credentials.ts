import type Cloudflare from 'cloudflare';
import type { ApiTokenConfig, Inventory } from '../config';
import type { SecretSource } from '../secret-source';
import type { CloudflareClientFactory } from '../cloudflare/client';
import type { Refusal, TokenKind, TokenSnapshot } from '../health/types';
import { describeCloudflareError, isPermanent, toActivityFailure } from './cloudflare-errors';
import { permanentFailure } from './failure-types';
import { toSnapshot } from './token-snapshot';
import { subjectKey, type TokenSubject } from './token-subject';

export interface TokenHealthDeps {
  inventory: Pick<Inventory, 'accounts'>;
  readSecret: (source: SecretSource) => string | undefined;
  cloudflare: CloudflareClientFactory;
  cloudflareBaseURL?: string;
  /** A client on token-warden's own Cloudflare token. */
  wardenClient: (purpose: 'reads' | 'mutations') => Cloudflare;
}

const refusalOf = (error: unknown): Refusal => {
  const info = describeCloudflareError(error);
  return {
    httpStatus: info.httpStatus ?? null,
    message: `${info.httpStatus ? `HTTP ${info.httpStatus}: ` : ''}${info.message}`,
  };
};

/** Runs a Cloudflare call; a permanent refusal comes back as data, anything else is retried. */
export async function attempt<T>(
  what: string,
  call: () => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; refusal: Refusal }> {
  try {
    return { ok: true, value: await call() };
  } catch (error) {
    if (!isPermanent(describeCloudflareError(error))) throw toActivityFailure(error, what);
    return { ok: false, refusal: refusalOf(error) };
  }
}

export const getToken = async (
  client: Cloudflare,
  kind: TokenKind,
  accountId: string,
  tokenId: string,
): Promise<TokenSnapshot> =>
  toSnapshot(
    kind === 'account'
      ? await client.accounts.tokens.get(tokenId, { account_id: accountId })
      : await client.user.tokens.get(tokenId),
    tokenId,
  );

export const verifyToken = async (client: Cloudflare, kind: TokenKind, accountId: string) =>
  kind === 'account' ? client.accounts.tokens.verify({ account_id: accountId }) : client.user.tokens.verify();

/** Where each API token's value comes from, and Cloudflare clients on it. */
export function tokenCredentials(deps: TokenHealthDeps) {
  function inventoryToken(accountId: string, name: string): ApiTokenConfig {
    const token = deps.inventory.accounts.find((a) => a.id === accountId)?.apiTokens.find((t) => t.name === name);
    if (!token) throw permanentFailure('UnknownApiToken', `API token ${accountId}/${name} is not in the inventory`);
    return token;
  }

  const secretWhere = (source: SecretSource): string =>
    'env' in source ? `environment variable ${source.env}` : `file ${source.file}`;

  /** The token's own value and a client on it; token-warden's own for the warden subject. */
  function credentialsOf(
    subject: TokenSubject,
    purpose: 'reads' | 'mutations',
  ): { value: string | undefined; where: string; client: () => Cloudflare } {
    if (subject.source === 'warden') {
      const client = deps.wardenClient(purpose);
      return {
        value: client.apiToken ?? undefined,
        where: 'token-warden configuration (CLOUDFLARE_API_TOKEN)',
        client: () => client,
      };
    }
    const token = inventoryToken(subject.accountId, subject.name);
    const value = deps.readSecret(token.secretFrom);
    return {
      value,
      where: secretWhere(token.secretFrom),
      client: () => {
        if (!value) throw permanentFailure('ApiTokenValueMissing', `no value for ${subjectKey(subject)}`);
        return deps.cloudflare({
          apiToken: value,
          baseURL: deps.cloudflareBaseURL,
          purpose,
          budgetOwner: token.cloudflareUser,
        });
      },
    };
  }

  return credentialsOf;
}
