import { targetLabel } from './target-label';
import { CoreV1Api, KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { assembleStore } from './assemble-store';
import { fingerprintCredential, fingerprintOfHalves } from './fingerprint';
import type { KubernetesRollout } from './kubernetes-rollout';
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

/** `rollout`: the workloads of the target's `restart:`, rolled out after each write (kubernetes-rollout.ts). */
export function createKubernetesStore(
  target: KubernetesTarget,
  api: KubernetesSecretsApi,
  rollout?: KubernetesRollout,
): PropagationStore {
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
  async function putSecret(credential: ServiceTokenCredential, operation: StoreOperation): Promise<WriteReceipt> {
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

  /**
   * The Secret first, then its consumers' rollouts: a pod started by the rollout reads the Secret
   * as it is then, so it must already hold the value the annotation names. The rollout is asked
   * for even when the Secret already held the value (a retry after a write whose patch failed);
   * the same annotation again changes nothing. A restore (compensation) rolls the consumers back
   * the same way, to the old value's fingerprint.
   */
  async function put(credential: ServiceTokenCredential, operation: StoreOperation): Promise<WriteReceipt> {
    const receipt = await putSecret(credential, operation);
    await rollout?.restart(receipt.fingerprint);
    return receipt;
  }

  return assembleStore({
    kind: 'kubernetes',
    label,
    put,
    read: async () => ({ evidence: 'fingerprint', fingerprint: fingerprintOf(await read()) }),
    ...(rollout ? { consumersReady: (receipt: WriteReceipt) => rollout.ready(receipt.fingerprint) } : {}),
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
