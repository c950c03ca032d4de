import type { Account, ApiTokenConfig, Inventory, ServiceTokenConfig } from './config';

export interface ManagedServiceToken {
  account: Account;
  token: ServiceTokenConfig;
}

/** Every managed service token, in inventory order. */
export function managedServiceTokens(inventory: Pick<Inventory, 'accounts'>): ManagedServiceToken[] {
  return inventory.accounts.flatMap((account) => account.serviceTokens.map((token) => ({ account, token })));
}

export function findServiceToken(
  inventory: Pick<Inventory, 'accounts'>,
  accountId: string,
  tokenName: string,
): ManagedServiceToken | undefined {
  return managedServiceTokens(inventory).find(
    (entry) => entry.account.id === accountId && entry.token.name === tokenName,
  );
}

/** Tokens are addressed by name in the API; a name shared by two accounts needs the account. */
export function findServiceTokensByName(
  inventory: Pick<Inventory, 'accounts'>,
  tokenName: string,
): ManagedServiceToken[] {
  return managedServiceTokens(inventory).filter((entry) => entry.token.name === tokenName);
}

/** One rotation per token at a time: the workflow id is the token's address. */
export function rotationWorkflowId(accountId: string, tokenName: string): string {
  return `rotate/${accountId}/${tokenName}`;
}

export interface ManagedApiToken {
  account: Account;
  token: ApiTokenConfig;
}

/** Every API token of the inventory, in inventory order. */
export function managedApiTokens(inventory: Pick<Inventory, 'accounts'>): ManagedApiToken[] {
  return inventory.accounts.flatMap((account) => account.apiTokens.map((token) => ({ account, token })));
}

export function findApiToken(
  inventory: Pick<Inventory, 'accounts'>,
  accountId: string,
  tokenName: string,
): ManagedApiToken | undefined {
  return managedApiTokens(inventory).find((e) => e.account.id === accountId && e.token.name === tokenName);
}

export function findApiTokensByName(inventory: Pick<Inventory, 'accounts'>, tokenName: string): ManagedApiToken[] {
  return managedApiTokens(inventory).filter((entry) => entry.token.name === tokenName);
}

/** One rotation per API token: user tokens are addressed under `user`, account-owned ones under their account. */
export function apiTokenRotationWorkflowId(entry: ManagedApiToken): string {
  return `rotate-api-token/${entry.token.kind === 'user' ? 'user' : entry.account.id}/${entry.token.name}`;
}

/** The propagation targets of a rotated credential: a service token's, or an API token's `rotate.targets`. */
export function rotationTargetsOf(
  inventory: Pick<Inventory, 'accounts'>,
  key: { accountId: string; tokenName: string; credential?: 'api-token' },
): readonly unknown[] | undefined {
  if (key.credential === 'api-token')
    return findApiToken(inventory, key.accountId, key.tokenName)?.token.rotate?.targets;
  return findServiceToken(inventory, key.accountId, key.tokenName)?.token.targets;
}
