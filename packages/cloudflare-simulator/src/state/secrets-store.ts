import { badRequest, CloudflareApiError, CODE, conflict, notFound } from '../errors';
import { fingerprint, matchesFingerprint, newHexId } from '../ids';
import type { AccountsRepo } from './accounts';
import type { SimStore } from './store';
import type { SecretsStoreRecord, SecretsStoreSecretRecord } from './types';

export type SecretScope = 'workers' | 'ai_gateway' | 'dex' | 'access' | 'containers' | 'websearch';

export interface SecretCreateInput {
  name: string;
  value: string;
  scopes: SecretScope[];
  comment?: string;
}

export interface SecretPatchInput {
  value?: string;
  scopes?: SecretScope[];
  comment?: string;
}

/** Secrets Store: stores per account, secrets per store, one per-account quota on secrets. */
export class SecretsStoreRepo {
  constructor(
    private readonly store: SimStore,
    private readonly accounts: AccountsRepo,
  ) {}

  quota(accountId: string): { quota: number; usage: number } {
    this.accounts.requireAccount(accountId);
    return { quota: this.store.data.secretsQuota, usage: this.usage(accountId) };
  }

  setQuota(quota: number): void {
    this.store.mutate((data) => {
      data.secretsQuota = quota;
    });
  }

  createStore(accountId: string, name: string): SecretsStoreRecord {
    this.accounts.requireAccount(accountId);
    if (name.trim() === '') throw badRequest('name: must not be empty');
    if (this.listStores(accountId).some((s) => s.name === name))
      throw conflict(`a store named "${name}" already exists`);
    const now = this.store.nowIso();
    const record: SecretsStoreRecord = { id: newHexId(), accountId, name, created: now, modified: now };
    this.store.mutate((data) => {
      data.secretsStores[record.id] = record;
    });
    return record;
  }

  listStores(accountId: string): SecretsStoreRecord[] {
    return Object.values(this.store.data.secretsStores).filter((s) => s.accountId === accountId);
  }

  requireStore(accountId: string, storeId: string): SecretsStoreRecord {
    const found = this.store.data.secretsStores[storeId];
    if (!found || found.accountId !== accountId) throw notFound(`secrets store ${storeId}`);
    return found;
  }

  /** A store that still holds secrets is deleted only with force (which cascades). */
  deleteStore(accountId: string, storeId: string, force: boolean): void {
    this.requireStore(accountId, storeId);
    const secrets = this.listSecrets(accountId, storeId);
    if (secrets.length > 0 && !force)
      throw conflict(`store ${storeId} is not empty; pass force=true to delete its secrets too`);
    this.store.mutate((data) => {
      for (const secret of secrets) delete data.secretsStoreSecrets[secret.id];
      delete data.secretsStores[storeId];
    });
  }

  listSecrets(accountId: string, storeId: string): SecretsStoreSecretRecord[] {
    this.requireStore(accountId, storeId);
    return Object.values(this.store.data.secretsStoreSecrets).filter((s) => s.storeId === storeId);
  }

  createSecrets(accountId: string, storeId: string, items: SecretCreateInput[]): SecretsStoreSecretRecord[] {
    const existing = new Set(this.listSecrets(accountId, storeId).map((s) => s.name));
    for (const item of items) {
      if (item.name.trim() === '') throw badRequest('name: must not be empty');
      if (existing.has(item.name)) throw conflict(`a secret named "${item.name}" already exists in this store`);
      existing.add(item.name);
    }
    this.requireQuota(accountId, items.length);
    const now = this.store.nowIso();
    const records = items.map<SecretsStoreSecretRecord>((item) => ({
      id: newHexId(),
      storeId,
      name: item.name,
      comment: item.comment ?? '',
      scopes: [...item.scopes],
      status: 'active',
      valueHash: fingerprint(item.value),
      created: now,
      modified: now,
    }));
    this.store.mutate((data) => {
      for (const record of records) data.secretsStoreSecrets[record.id] = record;
    });
    return records;
  }

  requireSecret(accountId: string, storeId: string, secretId: string): SecretsStoreSecretRecord {
    this.requireStore(accountId, storeId);
    const secret = this.store.data.secretsStoreSecrets[secretId];
    if (!secret || secret.storeId !== storeId) throw notFound(`secret ${secretId}`);
    return secret;
  }

  patchSecret(accountId: string, storeId: string, secretId: string, patch: SecretPatchInput): SecretsStoreSecretRecord {
    const secret = this.requireSecret(accountId, storeId, secretId);
    return this.store.mutate(() => {
      if (patch.value !== undefined) secret.valueHash = fingerprint(patch.value);
      if (patch.scopes !== undefined) secret.scopes = [...patch.scopes];
      if (patch.comment !== undefined) secret.comment = patch.comment;
      secret.modified = this.store.nowIso();
      return secret;
    });
  }

  deleteSecret(accountId: string, storeId: string, secretId: string): void {
    this.requireSecret(accountId, storeId, secretId);
    this.store.mutate((data) => {
      delete data.secretsStoreSecrets[secretId];
    });
  }

  /** All or nothing: an unknown id fails the whole request before anything is deleted. */
  bulkDelete(accountId: string, storeId: string, ids: string[]): void {
    for (const id of ids) this.requireSecret(accountId, storeId, id);
    this.store.mutate((data) => {
      for (const id of ids) delete data.secretsStoreSecrets[id];
    });
  }

  duplicate(
    accountId: string,
    storeId: string,
    secretId: string,
    input: { name: string; scopes: SecretScope[]; comment?: string },
  ): SecretsStoreSecretRecord {
    const source = this.requireSecret(accountId, storeId, secretId);
    if (this.listSecrets(accountId, storeId).some((s) => s.name === input.name)) {
      throw conflict(`a secret named "${input.name}" already exists in this store`);
    }
    this.requireQuota(accountId, 1);
    const now = this.store.nowIso();
    const copy: SecretsStoreSecretRecord = {
      ...source,
      id: newHexId(),
      name: input.name,
      scopes: [...input.scopes],
      comment: input.comment ?? source.comment,
      created: now,
      modified: now,
    };
    this.store.mutate((data) => {
      data.secretsStoreSecrets[copy.id] = copy;
    });
    return copy;
  }

  /** Test helper: does the secret with this name (or id) in the store hold this value? */
  secretMatches(storeId: string, nameOrId: string, value: string): boolean {
    const secret = Object.values(this.store.data.secretsStoreSecrets).find(
      (s) => s.storeId === storeId && (s.name === nameOrId || s.id === nameOrId),
    );
    return secret !== undefined && matchesFingerprint(value, secret.valueHash);
  }

  private usage(accountId: string): number {
    const stores = new Set(this.listStores(accountId).map((s) => s.id));
    return Object.values(this.store.data.secretsStoreSecrets).filter((s) => stores.has(s.storeId)).length;
  }

  private requireQuota(accountId: string, adding: number): void {
    const quota = this.store.data.secretsQuota;
    if (this.usage(accountId) + adding > quota) {
      throw CloudflareApiError.of(
        400,
        CODE.quotaExceeded,
        `secrets quota exceeded: the account may hold ${quota} secrets`,
      );
    }
  }
}

export function secretsStoreView(store: SecretsStoreRecord): Record<string, unknown> {
  return {
    id: store.id,
    name: store.name,
    account_id: store.accountId,
    created: store.created,
    modified: store.modified,
  };
}

export function secretsStoreSecretView(secret: SecretsStoreSecretRecord): Record<string, unknown> {
  return {
    id: secret.id,
    name: secret.name,
    store_id: secret.storeId,
    status: secret.status,
    comment: secret.comment,
    scopes: secret.scopes,
    created: secret.created,
    modified: secret.modified,
  };
}
