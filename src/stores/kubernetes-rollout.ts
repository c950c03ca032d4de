import {
  AppsV1Api,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1DaemonSet,
  type V1Deployment,
  type V1StatefulSet,
} from '@kubernetes/client-node';
import { msToNumber } from '@temporalio/common';
import { DEFAULT_ROLLOUT_TIMEOUT } from './store-schemas';
import type { ConsumersReady, KubernetesConsumer, KubernetesTarget } from './store-types';

/**
 * The pod-template annotation that carries the fingerprint of the credential the Secret holds.
 * Changing it is what makes the workload controller replace every pod, so pods that read the
 * Secret at start-up pick the new value up; a fingerprint (never the value) is enough for that.
 */
export const FINGERPRINT_ANNOTATION = 'token-warden.dev/credential-fingerprint';

/** The six calls a rollout makes (get and patch per kind, nothing else: RBAC grants exactly these). */
export type KubernetesAppsApi = Pick<
  AppsV1Api,
  | 'readNamespacedDeployment'
  | 'patchNamespacedDeployment'
  | 'readNamespacedStatefulSet'
  | 'patchNamespacedStatefulSet'
  | 'readNamespacedDaemonSet'
  | 'patchNamespacedDaemonSet'
>;

export function kubernetesAppsApi(config: KubeConfig): KubernetesAppsApi {
  return config.makeApiClient(AppsV1Api);
}

/** A workload as the API server answered it, tagged with its kind. */
export type ObservedWorkload =
  | { kind: 'Deployment'; object: V1Deployment }
  | { kind: 'StatefulSet'; object: V1StatefulSet }
  | { kind: 'DaemonSet'; object: V1DaemonSet };

export interface RolloutStatus {
  ready: boolean;
  detail: string;
}

/**
 * Whether the rollout of the pod template annotated with `fingerprint` has completed, by the
 * rules `kubectl rollout status` applies: the controller has observed the template change
 * (metadata.generation ≤ status.observedGeneration), every replica runs the new template, and
 * as many as desired are available (Deployment, DaemonSet) or ready on the update revision
 * (StatefulSet). A template carrying another fingerprint is not this rollout, whatever its status.
 */
export function rolloutStatus(workload: ObservedWorkload, fingerprint: string): RolloutStatus {
  const { object } = workload;
  const annotation = object.spec?.template.metadata?.annotations?.[FINGERPRINT_ANNOTATION];
  if (annotation !== fingerprint) {
    return waiting(annotation === undefined ? 'pod template not annotated' : `pod template carries ${annotation}`);
  }
  const generation = object.metadata?.generation ?? 0;
  const observed = object.status?.observedGeneration;
  if (observed === undefined || generation > observed)
    return waiting(`generation ${generation} not observed yet (observed ${observed ?? 'none'})`);
  switch (workload.kind) {
    case 'Deployment': {
      const spec = workload.object.spec;
      const status = workload.object.status;
      const desired = spec?.replicas ?? 1;
      const updated = status?.updatedReplicas ?? 0;
      const total = status?.replicas ?? 0;
      const available = status?.availableReplicas ?? 0;
      if (updated < desired) return waiting(`${updated} of ${desired} replicas updated`);
      if (total > updated) return waiting(`${total - updated} old replicas pending termination`);
      if (available < desired) return waiting(`${available} of ${desired} replicas available`);
      return done(`${desired} replicas updated and available`);
    }
    case 'StatefulSet': {
      const spec = workload.object.spec;
      const status = workload.object.status;
      const desired = spec?.replicas ?? 1;
      const updated = status?.updatedReplicas ?? 0;
      const ready = status?.readyReplicas ?? 0;
      if (spec?.updateStrategy?.type === 'OnDelete')
        return waiting('updateStrategy OnDelete: pods are replaced only when deleted');
      if (updated < desired) return waiting(`${updated} of ${desired} replicas updated`);
      if (ready < desired) return waiting(`${ready} of ${desired} replicas ready`);
      if (status?.currentRevision !== status?.updateRevision)
        return waiting(`revision ${status?.updateRevision ?? '?'} not current yet`);
      return done(`${desired} replicas updated and ready`);
    }
    case 'DaemonSet': {
      const status = workload.object.status;
      const desired = status?.desiredNumberScheduled ?? 0;
      const updated = status?.updatedNumberScheduled ?? 0;
      const available = status?.numberAvailable ?? 0;
      if (updated < desired) return waiting(`${updated} of ${desired} nodes updated`);
      if (available < desired) return waiting(`${available} of ${desired} nodes available`);
      return done(`${desired} nodes updated and available`);
    }
  }
}

const waiting = (detail: string): RolloutStatus => ({ ready: false, detail });
const done = (detail: string): RolloutStatus => ({ ready: true, detail });

export interface KubernetesRollout {
  /** Annotates every consumer's pod template with the fingerprint; idempotent (same value, no new rollout). */
  restart(fingerprint: string): Promise<void>;
  /** Reads every consumer once (one GET each) and says where its rollout of `fingerprint` stands. */
  ready(fingerprint: string): Promise<ConsumersReady>;
}

/** The rollouts a `kubernetes` target's `restart:` asks for; the Secret store calls it after each write. */
export function createKubernetesRollout(target: KubernetesTarget, api: KubernetesAppsApi): KubernetesRollout {
  const consumers = target.restart ?? [];
  const timeoutMs = msToNumber((target.rolloutTimeout ?? DEFAULT_ROLLOUT_TIMEOUT) as Parameters<typeof msToNumber>[0]);
  const where = (consumer: KubernetesConsumer) => ({
    name: consumer.name,
    namespace: consumer.namespace ?? target.namespace,
  });
  const labelOf = (consumer: KubernetesConsumer) => {
    const { namespace, name } = where(consumer);
    return `${consumer.kind} ${namespace}/${name}`;
  };

  async function read(consumer: KubernetesConsumer): Promise<ObservedWorkload> {
    const ref = where(consumer);
    switch (consumer.kind) {
      case 'Deployment':
        return { kind: consumer.kind, object: await api.readNamespacedDeployment(ref) };
      case 'StatefulSet':
        return { kind: consumer.kind, object: await api.readNamespacedStatefulSet(ref) };
      case 'DaemonSet':
        return { kind: consumer.kind, object: await api.readNamespacedDaemonSet(ref) };
    }
  }

  async function annotate(consumer: KubernetesConsumer, fingerprint: string): Promise<void> {
    // A merge patch touches only this one annotation; the API server bumps the generation only
    // when the template changes, so patching the value it already holds starts no rollout.
    const request = {
      ...where(consumer),
      body: { spec: { template: { metadata: { annotations: { [FINGERPRINT_ANNOTATION]: fingerprint } } } } },
      fieldManager: 'token-warden',
    };
    const options = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
    switch (consumer.kind) {
      case 'Deployment':
        await api.patchNamespacedDeployment(request, options);
        return;
      case 'StatefulSet':
        await api.patchNamespacedStatefulSet(request, options);
        return;
      case 'DaemonSet':
        await api.patchNamespacedDaemonSet(request, options);
        return;
    }
  }

  return {
    async restart(fingerprint) {
      await Promise.all(consumers.map((consumer) => annotate(consumer, fingerprint)));
    },
    async ready(fingerprint) {
      const statuses = await Promise.all(
        consumers.map(async (consumer) => ({
          consumer: labelOf(consumer),
          ...rolloutStatus(await read(consumer), fingerprint),
        })),
      );
      return { timeoutMs, consumers: statuses };
    },
  };
}
