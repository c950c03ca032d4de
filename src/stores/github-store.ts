import { targetLabel } from './target-label';
import { Octokit } from '@octokit/rest';
import { assembleStore } from './assemble-store';
import { fingerprintCredential } from './fingerprint';
import { githubScopeOf, type GithubScope } from './github-scope';
import { sealForGithub } from './sealed-box';
import { httpStatusOf, StoreError, type StoreOperation } from './store-error';
import type { GithubTarget, PropagationStore, ServiceTokenCredential, WriteReceipt } from './store-types';

export interface GithubClientOptions {
  token: string;
  baseUrl?: string | undefined;
}

export function defaultGithubClient({ token, baseUrl }: GithubClientOptions): Octokit {
  const quiet = () => undefined;
  // Octokit's own error log would print every 404 that readBack expects; our errors say enough.
  return new Octokit({
    auth: token,
    ...(baseUrl === undefined ? {} : { baseUrl }),
    log: { debug: quiet, info: quiet, warn: console.warn, error: quiet },
  });
}

/** The three calls the store needs, bound to one scope's endpoints. */
interface ScopeApi {
  publicKey(): Promise<{ key_id: string; key: string }>;
  put(secretName: string, encryptedValue: string, keyId: string): Promise<unknown>;
  /** When the secret was last written; null when it does not exist. */
  updatedAt(secretName: string): Promise<string | null>;
}

function scopeApi(octokit: Octokit, scope: GithubScope): ScopeApi {
  const { actions } = octokit.rest;
  const updatedAt = async (get: () => Promise<{ data: { updated_at: string } }>) => {
    try {
      return (await get()).data.updated_at;
    } catch (error) {
      if (httpStatusOf(error) === 404) return null;
      throw error;
    }
  };
  switch (scope.scope) {
    case 'repository': {
      const { owner, repo } = scope;
      return {
        publicKey: async () => (await actions.getRepoPublicKey({ owner, repo })).data,
        put: (secret_name, encrypted_value, key_id) =>
          actions.createOrUpdateRepoSecret({ owner, repo, secret_name, encrypted_value, key_id }),
        updatedAt: (secret_name) => updatedAt(() => actions.getRepoSecret({ owner, repo, secret_name })),
      };
    }
    case 'environment': {
      const { owner, repo, environment: environment_name } = scope;
      return {
        publicKey: async () => (await actions.getEnvironmentPublicKey({ owner, repo, environment_name })).data,
        put: (secret_name, encrypted_value, key_id) =>
          actions.createOrUpdateEnvironmentSecret({
            owner,
            repo,
            environment_name,
            secret_name,
            encrypted_value,
            key_id,
          }),
        updatedAt: (secret_name) =>
          updatedAt(() => actions.getEnvironmentSecret({ owner, repo, environment_name, secret_name })),
      };
    }
    case 'organization': {
      const { org, visibility, selectedRepositoryIds } = scope;
      return {
        publicKey: async () => (await actions.getOrgPublicKey({ org })).data,
        put: (secret_name, encrypted_value, key_id) =>
          actions.createOrUpdateOrgSecret({
            org,
            secret_name,
            encrypted_value,
            key_id,
            visibility,
            ...(selectedRepositoryIds === undefined ? {} : { selected_repository_ids: [...selectedRepositoryIds] }),
          }),
        updatedAt: (secret_name) => updatedAt(() => actions.getOrgSecret({ org, secret_name })),
      };
    }
  }
}

/**
 * GitHub never returns a secret, so the evidence is `updated_at` (the older of the two secrets):
 * it shows both were written at or after our write, not what they hold.
 */
export function createGithubStore(target: GithubTarget, octokit: Octokit): PropagationStore {
  const scope = githubScopeOf(target);
  if ('problem' in scope) {
    throw new StoreError({ store: 'github', operation: 'configure', reason: scope.problem, retryable: false });
  }
  const label = targetLabel(target, undefined);
  const api = scopeApi(octokit, scope);
  const { names } = target;

  async function writtenAt(): Promise<string | null> {
    const [clientId, clientSecret] = await Promise.all([
      api.updatedAt(names.clientId),
      api.updatedAt(names.clientSecret),
    ]);
    if (clientId === null || clientSecret === null) return null;
    return Date.parse(clientId) <= Date.parse(clientSecret) ? clientId : clientSecret;
  }

  async function put(credential: ServiceTokenCredential, operation: StoreOperation): Promise<WriteReceipt> {
    // One key for both values: a key rotated between two reads would mix key ids.
    const publicKey = await api.publicKey();
    const values: ReadonlyArray<readonly [string, string]> = [
      [names.clientId, credential.clientId],
      [names.clientSecret, credential.clientSecret],
    ];
    for (const [name, value] of values) {
      await api.put(name, await sealForGithub(publicKey.key, value), publicKey.key_id);
    }
    const at = await writtenAt();
    if (at === null) {
      throw new StoreError({
        store: label,
        operation,
        reason: 'a secret is missing right after it was written',
        retryable: true,
      });
    }
    return {
      store: label,
      fingerprint: fingerprintCredential(credential),
      changed: true,
      expected: { evidence: 'written-at', writtenAt: at },
    };
  }

  return assembleStore({
    kind: 'github',
    label,
    put,
    read: async () => ({ evidence: 'written-at', writtenAt: await writtenAt() }),
  });
}
