import type { ApiTokenConfig, Inventory } from '../config';
import type { SecretSource } from '../secret-source';
import type { CloudflareClientFactory } from '../cloudflare/client';
import { describeCloudflareError, isPermanent, toActivityFailure } from './cloudflare-errors';

export interface ApiTokenVerification {
  accountId: string;
  name: string;
  kind: ApiTokenConfig['kind'];
  tokenId: string | null;
  outcome: 'valid' | 'invalid' | 'missing-secret';
  status: string | null;
  expiresOn: string | null;
  problem: string | null;
}

export interface ApiTokenVerificationDeps {
  inventory: Pick<Inventory, 'accounts'>;
  readSecret: (source: SecretSource) => string | undefined;
  cloudflare: CloudflareClientFactory;
  cloudflareBaseURL?: string;
}

/** Verifies every configured API token through the endpoint of its kind. */
export function createApiTokenVerificationActivities(deps: ApiTokenVerificationDeps) {
  async function verifyOne(accountId: string, token: ApiTokenConfig): Promise<ApiTokenVerification> {
    const base = {
      accountId,
      name: token.name,
      kind: token.kind,
      tokenId: token.id ?? null,
      status: null,
      expiresOn: null,
      problem: null,
    };
    const secret = deps.readSecret(token.secretFrom);
    if (!secret) {
      const where =
        'env' in token.secretFrom ? `environment variable ${token.secretFrom.env}` : `file ${token.secretFrom.file}`;
      return { ...base, outcome: 'missing-secret', problem: `no token value in ${where}` };
    }
    const client = deps.cloudflare({
      apiToken: secret,
      baseURL: deps.cloudflareBaseURL,
      purpose: 'reads',
      budgetOwner: token.cloudflareUser,
    });
    try {
      const result =
        token.kind === 'account'
          ? await client.accounts.tokens.verify({ account_id: accountId })
          : await client.user.tokens.verify();
      return {
        ...base,
        tokenId: result.id,
        outcome: result.status === 'active' ? 'valid' : 'invalid',
        status: result.status,
        expiresOn: result.expires_on ?? null,
        problem: result.status === 'active' ? null : `token status is ${result.status}`,
      };
    } catch (error) {
      const info = describeCloudflareError(error);
      if (!isPermanent(info)) throw toActivityFailure(error, `verify ${token.name}`);
      return {
        ...base,
        outcome: 'invalid',
        problem: `Cloudflare rejected the token: HTTP ${info.httpStatus} ${info.message}`,
      };
    }
  }

  return {
    async verifyApiTokens(): Promise<ApiTokenVerification[]> {
      const jobs = deps.inventory.accounts.flatMap((account) =>
        account.apiTokens.map((token) => verifyOne(account.id, token)),
      );
      return Promise.all(jobs);
    },
  };
}
