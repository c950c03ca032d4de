import type { KubeConfig } from '@kubernetes/client-node';
import type { Octokit } from '@octokit/rest';
import type Cloudflare from 'cloudflare';
import { createFileStore } from './file-store';
import { createGithubStore, defaultGithubClient, type GithubClientOptions } from './github-store';
import { createKubernetesRollout, kubernetesAppsApi } from './kubernetes-rollout';
import { createKubernetesStore, defaultKubeConfig, kubernetesSecretsApi } from './kubernetes-store';
import { createMemoryStoreMemo, type StoreMemo } from './memo';
import { createSecretsStoreStore } from './secrets-store-store';
import { StoreError, toStoreError } from './store-error';
import type {
  GithubTarget,
  KubernetesTarget,
  PropagationStore,
  PropagationTarget,
  PropagationTargetKind,
} from './store-types';
import { createWorkersSecretStore } from './workers-secret-store';

/** What stores need from the process; only entry points and tests build these. */
export interface StoreDeps {
  /** A Cloudflare client allowed to write that account's Workers and Secrets Store secrets. */
  readonly cloudflare: (accountId: string) => Cloudflare;
  /** Where each GitHub target's `tokenEnv` is looked up. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Defaults to the target's kubeconfig file, else KUBECONFIG, ~/.kube/config or in-cluster. */
  readonly kubeConfig?: (target: KubernetesTarget) => KubeConfig;
  /** Defaults to an Octokit for the token and the target's baseUrl. */
  readonly github?: (options: GithubClientOptions) => Octokit;
  /**
   * What stores remember between calls (Secrets Store secret ids), shared by every worker
   * process: src/db/store-memo.ts. Without it, one in-memory memo per `StoreDeps` object.
   */
  readonly memo?: StoreMemo;
}

// Stores are built anew for every activity; the fallback memo lives as long as their deps.
const fallbackMemos = new WeakMap<StoreDeps, StoreMemo>();

function memoOf(deps: StoreDeps): StoreMemo {
  if (deps.memo !== undefined) return deps.memo;
  let memo = fallbackMemos.get(deps);
  if (memo === undefined) {
    memo = createMemoryStoreMemo();
    fallbackMemos.set(deps, memo);
  }
  return memo;
}

/** Facts about the service token whose credential the stores receive. */
export interface StoreContext {
  /** The token's account; Cloudflare targets without their own accountId write there. */
  readonly accountId?: string;
}

type TargetOfKind = { [K in PropagationTargetKind]: Extract<PropagationTarget, { kind: K }> };

export type StoreFactory<K extends PropagationTargetKind> = (
  target: TargetOfKind[K],
  deps: StoreDeps,
  context: StoreContext,
) => PropagationStore;

const factories: { [K in PropagationTargetKind]: StoreFactory<K> } = {
  file: (target) => createFileStore(target),
  kubernetes: (target, deps) => {
    const config = configure(target.kind, () => (deps.kubeConfig ?? defaultKubeConfig)(target));
    const rollout = target.restart ? createKubernetesRollout(target, kubernetesAppsApi(config)) : undefined;
    return createKubernetesStore(target, kubernetesSecretsApi(config), rollout);
  },
  github: (target, deps) => {
    const client = (deps.github ?? defaultGithubClient)({
      token: githubToken(target, deps.env),
      baseUrl: target.baseUrl,
    });
    return createGithubStore(target, client);
  },
  'workers-secret': (target, deps, context) => {
    const accountId = accountOf(target, context);
    return createWorkersSecretStore(target, deps.cloudflare(accountId), accountId);
  },
  'secrets-store': (target, deps, context) => {
    const accountId = accountOf(target, context);
    return createSecretsStoreStore(target, deps.cloudflare(accountId), accountId, memoOf(deps));
  },
};

// Generic over the kind so that `factories[kind]` and `target` are known to match (no cast).
function createOfKind<K extends PropagationTargetKind>(
  kind: K,
  target: TargetOfKind[K],
  deps: StoreDeps,
  context: StoreContext,
): PropagationStore {
  return factories[kind](target, deps, context);
}

/** Throws StoreError (operation `configure`, not retryable) when the target cannot be set up. */
export function createStore(target: PropagationTarget, deps: StoreDeps, context: StoreContext = {}): PropagationStore {
  return createOfKind(target.kind, target, deps, context);
}

function githubToken(target: GithubTarget, env: StoreDeps['env']): string {
  const token = env[target.tokenEnv];
  if (token === undefined || token === '') {
    throw new StoreError({
      store: 'github',
      operation: 'configure',
      reason: `environment variable ${target.tokenEnv} is not set`,
      retryable: false,
    });
  }
  return token;
}

function accountOf(
  target: { kind: PropagationTargetKind; accountId?: string | undefined },
  context: StoreContext,
): string {
  const accountId = target.accountId ?? context.accountId;
  if (accountId === undefined) {
    throw new StoreError({
      store: target.kind,
      operation: 'configure',
      reason: 'no accountId on the target and none given for the token',
      retryable: false,
    });
  }
  return accountId;
}

function configure<T>(store: string, build: () => T): T {
  try {
    return build();
  } catch (error) {
    // A bad kubeconfig will not get better by retrying.
    const { reason } = toStoreError(error, { store, operation: 'configure', secrets: [] });
    throw new StoreError({ store, operation: 'configure', reason, retryable: false });
  }
}
