import { targetLabel } from './target-label';
import { CoreV1Api, KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { assembleStore } from './assemble-store';
import { fingerprintCredential, fingerprintOfHalves } from './fingerprint';
import { httpStatusOf, StoreError, type StoreOperation } from './store-error';
import type { KubernetesTarget, PropagationStore, ServiceTokenCredential, WriteReceipt } from './store-types';

/** The three calls the store makes; a CoreV1Api satisfies it. */
export type KubernetesSecretsApi = Pick<
  CoreV1Api,
  'readNamespacedSecret' | 'createNamespacedSecret' | 'replaceNamespacedSecret'
>;

const FIELD_MANAGER = 'token-warden';
/** Attempts at read → replace before a run of resourceVersion conflicts is reported. */
const MAX_ATTEMPTS = 5;

/** Default loading: the target's kubeconfig file, else KUBECONFIG, ~/.kube/config or in-cluster. */
export function defaultKubeConfig(target: KubernetesTarget): KubeConfig {
  const config = new KubeConfig();
  if (target.kubeconfig !== undefined) config.loadFromFile(target.kubeconfig);
  else config.loadFromDefault();
  if (target.context !== undefined) config.setCurrentContext(target.context);
  return config;
}

export function kubernetesSecretsApi(config: KubeConfig): KubernetesSecretsApi {
  return config.makeApiClient(CoreV1Api);
}

export function createKubernetesStore(target: KubernetesTarget, api: KubernetesSecretsApi): PropagationStore {
  const { namespace, name, keys } = target;
  const label = targetLabel(target, undefined);

  async function read(): Promise<V1Secret | null> {
    try {
      return await api.readNamespacedSecret({ name, namespace });
    } catch (error) {
      if (httpStatusOf(error) === 404) return null;
      throw error;
    }
  }

  function fingerprintOf(secret: V1Secret | null): string | null {
    const decode = (key: string) => {
      const value = secret?.data?.[key];
      return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
    };
    return fingerprintOfHalves(decode(keys.clientId), decode(keys.clientSecret));
  }

  /**
   * Optimistic concurrency: every replace carries the resourceVersion it read, so a concurrent
   * writer makes it fail with 409 instead of being overwritten; we then re-read, which picks up
   * the other writer's keys, and try again. Keys other than ours are carried over untouched.
   */
  async function put(credential: ServiceTokenCredential, operation: StoreOperation): Promise<WriteReceipt> {
    const fingerprint = fingerprintCredential(credential);
    const receipt = (changed: boolean): WriteReceipt => ({
      store: label,
      fingerprint,
      changed,
      expected: { evidence: 'fingerprint', fingerprint },
    });
    const ours = {
      [keys.clientId]: Buffer.from(credential.clientId, 'utf8').toString('base64'),
      [keys.clientSecret]: Buffer.from(credential.clientSecret, 'utf8').toString('base64'),
    };
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt += 1) {
      const current = await read();
      if (current === null) {
        const body: V1Secret = {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name, namespace },
          type: 'Opaque',
          data: ours,
        };
        if (await conflictAsFalse(api.createNamespacedSecret({ namespace, body, fieldManager: FIELD_MANAGER }))) {
          return receipt(true);
        }
        continue; // someone created it meanwhile (409 AlreadyExists): read theirs and merge
      }
      if (fingerprintOf(current) === fingerprint) return receipt(false);
      const body: V1Secret = { ...current, data: { ...current.data, ...ours } };
      if (await conflictAsFalse(api.replaceNamespacedSecret({ name, namespace, body, fieldManager: FIELD_MANAGER }))) {
        return receipt(true);
      }
    }
    throw new StoreError({
      store: label,
      operation,
      status: 409,
      reason: `the Secret kept changing under us (${MAX_ATTEMPTS} conflicting attempts)`,
      retryable: true,
    });
  }

  return assembleStore({
    kind: 'kubernetes',
    label,
    put,
    read: async () => ({ evidence: 'fingerprint', fingerprint: fingerprintOf(await read()) }),
  });
}

/** Resolves true when the write went through, false on 409; rethrows anything else. */
async function conflictAsFalse(write: Promise<V1Secret>): Promise<boolean> {
  try {
    await write;
    return true;
  } catch (error) {
    if (httpStatusOf(error) === 409) return false;
    throw error;
  }
}
