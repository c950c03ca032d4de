import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type { FakeRequest, FakeResponse } from './loopback-server';
import { OpenApiContract } from './openapi-contract';

/**
 * The apps/v1 part of the loopback Kubernetes fake: GET and PATCH of Deployments, StatefulSets
 * and DaemonSets, checked against test/fakes/contracts/kubernetes-apps-v1.json (an extract
 * assembled from the Kubernetes OpenAPI apps/v1 definitions; see its info.description), with a
 * workload controller the test steers. A PATCH that changes the pod template bumps
 * metadata.generation and starts a rollout: the controller observes it at once (observedGeneration)
 * but no replica runs the new template until the rollout has been read `afterPolls` times, or
 * ever (`never`). Merge and strategic-merge patches are applied as RFC 7386 merges, which is
 * what a strategic merge does to the maps (annotations) a rollout restart touches.
 */

export type WorkloadKind = 'Deployment' | 'StatefulSet' | 'DaemonSet';
export type RolloutPlan = { afterPolls: number } | 'never';

const PLURAL: Record<WorkloadKind, string> = {
  Deployment: 'deployments',
  StatefulSet: 'statefulsets',
  DaemonSet: 'daemonsets',
};
const KIND_OF: Record<string, WorkloadKind> = {
  deployments: 'Deployment',
  statefulsets: 'StatefulSet',
  daemonsets: 'DaemonSet',
};
const MERGE_PATCH_TYPES = ['application/merge-patch+json', 'application/strategic-merge-patch+json'];

type Json = Record<string, unknown>;

export interface FakeWorkload {
  kind: WorkloadKind;
  /** The object as the API server would answer it now. */
  object: Json;
  /** How this workload's rollouts go from now on. */
  plan: RolloutPlan;
  /** Nodes a DaemonSet runs on. */
  nodes: number;
  /** Reads since the current rollout started. */
  polls: number;
  /** When the current rollout completed (Date.now()); undefined while it runs. */
  completedAt: number | undefined;
  /** Every PATCH that reached it: when, and the pod-template annotations after it. */
  patches: Array<{ at: number; annotations: Record<string, string> }>;
}

export interface KubernetesApps {
  /** Seeds a workload whose current template has fully rolled out; `replicas` (nodes for a DaemonSet) default 2. */
  seed(kind: WorkloadKind, namespace: string, name: string, options?: { replicas?: number; plan?: RolloutPlan }): void;
  /** How the workload's next rollouts go (default: complete after 2 reads). */
  plan(kind: WorkloadKind, namespace: string, name: string, plan: RolloutPlan): void;
  workload(kind: WorkloadKind, namespace: string, name: string): FakeWorkload | undefined;
  /** The pod-template annotations of a workload now. */
  annotations(kind: WorkloadKind, namespace: string, name: string): Record<string, string>;
  /** Answers an /apis/apps/v1 request; undefined for any other path. */
  route(request: FakeRequest): FakeResponse | undefined;
}

export function createKubernetesApps(violations: string[]): KubernetesApps {
  const contract = new OpenApiContract(path.join(__dirname, 'contracts/kubernetes-apps-v1.json'));
  const workloads = new Map<string, FakeWorkload>();
  const key = (kind: WorkloadKind, namespace: string, name: string) => `${kind}/${namespace}/${name}`;
  let resourceVersion = 5000;
  const template = (kind: WorkloadKind) => `/apis/apps/v1/namespaces/{namespace}/${PLURAL[kind]}/{name}`;

  function desiredOf(workload: FakeWorkload): number {
    const spec = workload.object.spec as Json;
    if (workload.kind === 'DaemonSet') return workload.nodes;
    return typeof spec.replicas === 'number' ? spec.replicas : 1;
  }

  /** The status a controller reports: `done`, or a rollout that has not replaced any replica yet. */
  function setStatus(workload: FakeWorkload, done: boolean): void {
    const metadata = workload.object.metadata as Json;
    const generation = metadata.generation as number;
    const desired = desiredOf(workload);
    const revision = `${String(metadata.name)}-${generation}`;
    const previous = `${String(metadata.name)}-${generation - 1}`;
    const updated = done ? desired : 0;
    switch (workload.kind) {
      case 'Deployment':
        workload.object.status = {
          observedGeneration: generation,
          replicas: done ? desired : desired + 1,
          updatedReplicas: updated,
          readyReplicas: desired,
          availableReplicas: desired,
          ...(done ? {} : { unavailableReplicas: 1 }),
        };
        break;
      case 'StatefulSet':
        workload.object.status = {
          observedGeneration: generation,
          replicas: desired,
          updatedReplicas: updated,
          readyReplicas: done ? desired : desired - 1,
          availableReplicas: done ? desired : desired - 1,
          currentReplicas: done ? desired : desired - updated,
          currentRevision: done ? revision : previous,
          updateRevision: revision,
        };
        break;
      case 'DaemonSet':
        workload.object.status = {
          observedGeneration: generation,
          currentNumberScheduled: desired,
          desiredNumberScheduled: desired,
          numberMisscheduled: 0,
          numberReady: desired,
          numberAvailable: done ? desired : desired - 1,
          updatedNumberScheduled: updated,
        };
        break;
    }
  }

  function respond(method: string, kind: WorkloadKind, status: number, body: unknown): FakeResponse {
    violations.push(...contract.responseProblems(method, template(kind), status, body));
    return { status, body };
  }

  function notFound(method: string, kind: WorkloadKind, name: string): FakeResponse {
    return respond(method, kind, 404, {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `${PLURAL[kind]}.apps "${name}" not found`,
      reason: 'NotFound',
      details: { name, group: 'apps', kind: PLURAL[kind] },
      code: 404,
    });
  }

  function get(workload: FakeWorkload): FakeResponse {
    if (workload.completedAt === undefined) {
      workload.polls += 1;
      if (workload.plan !== 'never' && workload.polls >= workload.plan.afterPolls) {
        setStatus(workload, true);
        workload.completedAt = Date.now();
      }
    }
    return respond('GET', workload.kind, 200, workload.object);
  }

  function patch(workload: FakeWorkload, request: FakeRequest): FakeResponse {
    const name = String((workload.object.metadata as Json).name);
    const media = request.contentType.split(';')[0]?.trim() ?? '';
    violations.push(...contract.requestProblems('PATCH', template(workload.kind), request.body, media));
    if (!MERGE_PATCH_TYPES.includes(media)) {
      violations.push(`PATCH ${PLURAL[workload.kind]}/${name}: the fake applies only merge patches, got ${media}`);
      return { status: 415, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 415 } };
    }
    const next = merge(workload.object, request.body);
    const spec = (object: Json) => JSON.stringify(object.spec);
    const metadata = next.metadata as Json;
    metadata.resourceVersion = String((resourceVersion += 1));
    if (spec(next) !== spec(workload.object)) {
      metadata.generation = (metadata.generation as number) + 1;
      workload.object = next;
      workload.polls = 0;
      workload.completedAt = undefined;
      setStatus(workload, false);
    } else workload.object = next;
    workload.patches.push({ at: Date.now(), annotations: annotationsOf(workload) });
    return respond('PATCH', workload.kind, 200, workload.object);
  }

  function annotationsOf(workload: FakeWorkload): Record<string, string> {
    const spec = workload.object.spec as Json;
    const metadata = (spec.template as Json).metadata as Json;
    return { ...((metadata.annotations as Record<string, string> | undefined) ?? {}) };
  }

  return {
    seed(kind, namespace, name, { replicas = 2, plan = { afterPolls: 2 } } = {}) {
      const labels = { app: name };
      const workload: FakeWorkload = {
        kind,
        plan,
        nodes: replicas,
        polls: 0,
        completedAt: undefined,
        patches: [],
        object: {
          apiVersion: 'apps/v1',
          kind,
          metadata: {
            name,
            namespace,
            uid: randomUUID(),
            generation: 1,
            resourceVersion: String((resourceVersion += 1)),
            creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
          },
          spec: {
            ...(kind === 'DaemonSet' ? {} : { replicas }),
            ...(kind === 'StatefulSet' ? { serviceName: name, updateStrategy: { type: 'RollingUpdate' } } : {}),
            selector: { matchLabels: labels },
            template: { metadata: { labels }, spec: { containers: [{ name: 'app', image: 'example/app:1' }] } },
          },
        },
      };
      setStatus(workload, true);
      workload.completedAt = Date.now();
      workloads.set(key(kind, namespace, name), workload);
    },
    plan(kind, namespace, name, plan) {
      const workload = workloads.get(key(kind, namespace, name));
      if (!workload) throw new Error(`no ${kind} ${namespace}/${name} in the fake`);
      workload.plan = plan;
    },
    workload: (kind, namespace, name) => workloads.get(key(kind, namespace, name)),
    annotations(kind, namespace, name) {
      const workload = workloads.get(key(kind, namespace, name));
      return workload ? annotationsOf(workload) : {};
    },
    route(request) {
      const match = /^\/apis\/apps\/v1\/namespaces\/([^/]+)\/(deployments|statefulsets|daemonsets)\/([^/]+)$/.exec(
        request.path,
      );
      if (!match) return undefined;
      const kind = KIND_OF[match[2]!]!;
      const namespace = decodeURIComponent(match[1]!);
      const name = decodeURIComponent(match[3]!);
      const workload = workloads.get(key(kind, namespace, name));
      if (request.method !== 'GET' && request.method !== 'PATCH') return { status: 405 };
      if (!workload) return notFound(request.method, kind, name);
      return request.method === 'GET' ? get(workload) : patch(workload, request);
    },
  };
}

/** RFC 7386: objects merge, null deletes, anything else replaces. */
function merge(target: unknown, patchValue: unknown): Json {
  const result: Json = isRecord(target) ? { ...target } : {};
  if (!isRecord(patchValue)) return result;
  for (const [name, value] of Object.entries(patchValue)) {
    if (value === null) delete result[name];
    else if (isRecord(value)) result[name] = merge(result[name], value);
    else result[name] = value;
  }
  return result;
}

function isRecord(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
