import type { Account, Inventory, ServiceTokenConfig } from './config';

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
