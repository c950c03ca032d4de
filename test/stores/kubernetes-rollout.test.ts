import { msToNumber } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createPropagationActivities } from '../../src/activities/propagation';
import { inventorySchema } from '../../src/config';
import { fingerprintCredential, type ServiceTokenCredential, type WriteReceipt } from '../../src/stores';
import { FINGERPRINT_ANNOTATION, rolloutStatus, type ObservedWorkload } from '../../src/stores/kubernetes-rollout';
import { createStore } from '../../src/stores/registry';
import { StoreError } from '../../src/stores/store-error';
import { kubernetesTargetSchema, LONGEST_ROLLOUT_TIMEOUT_MS } from '../../src/stores/store-schemas';
import { verification } from '../../src/workflows/activity-options';
import { kubeConfigFor, startKubernetesFake, type KubernetesFake } from '../fakes/kubernetes-api';
import { expectNoSecretIn, randomCredential } from './credentials';

const FP = 'sha256:0123456789abcdef';
const template = (annotation: string | undefined = FP) => ({
  metadata: annotation === undefined ? {} : { annotations: { [FINGERPRINT_ANNOTATION]: annotation } },
});
const meta = (generation: number) => ({ name: 'web', namespace: 'apps', generation });
const selector = { matchLabels: { app: 'web' } };

describe('rolloutStatus', () => {
  const deployment = (status: Record<string, number>, generation = 3, annotation?: string): ObservedWorkload => ({
    kind: 'Deployment',
    object: { metadata: meta(generation), spec: { replicas: 3, selector, template: template(annotation) }, status },
  });
  const complete = { observedGeneration: 3, replicas: 3, updatedReplicas: 3, availableReplicas: 3 };

  it('calls a Deployment rolled out once every replica runs the new template and is available', () => {
    expect(rolloutStatus(deployment(complete), FP)).toEqual({
      ready: true,
      detail: '3 replicas updated and available',
    });
  });

  it('waits for a Deployment while replicas are old, old ones linger, or new ones are not available', () => {
    const cases: Array<[Record<string, number>, string]> = [
      [{ ...complete, updatedReplicas: 1 }, '1 of 3 replicas updated'],
      [{ ...complete, replicas: 4 }, '1 old replicas pending termination'],
      [{ ...complete, availableReplicas: 2 }, '2 of 3 replicas available'],
      [{ ...complete, observedGeneration: 2 }, 'generation 3 not observed yet (observed 2)'],
    ];
    for (const [status, detail] of cases)
      expect(rolloutStatus(deployment(status), FP)).toEqual({ ready: false, detail });
    expect(rolloutStatus({ kind: 'Deployment', object: { metadata: meta(1) } }, FP).ready).toBe(false);
  });

  it('does not count a rollout of another credential, however complete', () => {
    expect(rolloutStatus(deployment(complete, 3, 'sha256:ffffffffffffffff'), FP)).toEqual({
      ready: false,
      detail: 'pod template carries sha256:ffffffffffffffff',
    });
    const unannotated: ObservedWorkload = {
      kind: 'Deployment',
      object: { metadata: meta(3), spec: { selector, template: { metadata: {} } }, status: complete },
    };
    expect(rolloutStatus(unannotated, FP)).toEqual({ ready: false, detail: 'pod template not annotated' });
  });

  it('waits for a StatefulSet until its update revision is current and every replica is ready', () => {
    const statefulSet = (status: Record<string, unknown>, strategy = 'RollingUpdate'): ObservedWorkload => ({
      kind: 'StatefulSet',
      object: {
        metadata: meta(5),
        spec: { replicas: 2, selector, serviceName: 'web', template: template(), updateStrategy: { type: strategy } },
        status: { replicas: 2, ...status },
      },
    });
    const done = { observedGeneration: 5, updatedReplicas: 2, readyReplicas: 2, currentRevision: 'r5' };
    expect(rolloutStatus(statefulSet({ ...done, updateRevision: 'r5' }), FP).ready).toBe(true);
    expect(rolloutStatus(statefulSet({ ...done, updateRevision: 'r6' }), FP)).toEqual({
      ready: false,
      detail: 'revision r6 not current yet',
    });
    expect(rolloutStatus(statefulSet({ ...done, updateRevision: 'r5', readyReplicas: 1 }), FP).detail).toBe(
      '1 of 2 replicas ready',
    );
    expect(rolloutStatus(statefulSet({ ...done, updateRevision: 'r5' }, 'OnDelete'), FP).ready).toBe(false);
  });

  it('waits for a DaemonSet until every scheduled node runs the new template and is available', () => {
    const daemonSet = (status: Record<string, number>): ObservedWorkload => ({
      kind: 'DaemonSet',
      object: {
        metadata: meta(2),
        spec: { selector, template: template() },
        status: {
          currentNumberScheduled: 4,
          numberMisscheduled: 0,
          numberReady: 4,
          desiredNumberScheduled: 4,
          ...status,
        },
      },
    });
    expect(
      rolloutStatus(daemonSet({ observedGeneration: 2, updatedNumberScheduled: 4, numberAvailable: 4 }), FP),
    ).toEqual({ ready: true, detail: '4 nodes updated and available' });
    expect(
      rolloutStatus(daemonSet({ observedGeneration: 2, updatedNumberScheduled: 3, numberAvailable: 4 }), FP).detail,
    ).toBe('3 of 4 nodes updated');
    expect(
      rolloutStatus(daemonSet({ observedGeneration: 2, updatedNumberScheduled: 4, numberAvailable: 3 }), FP).detail,
    ).toBe('3 of 4 nodes available');
  });
});

describe('rolloutTimeout', () => {
  it('defaults to nothing in the parsed target (150s applied by the rollout) and refuses more than fits verify', () => {
    const base = { kind: 'kubernetes', namespace: 'apps', name: 'cf', restart: [{ kind: 'Deployment', name: 'web' }] };
    expect(kubernetesTargetSchema.parse(base).rolloutTimeout).toBeUndefined();
    expect(kubernetesTargetSchema.safeParse({ ...base, rolloutTimeout: '160s' }).success).toBe(true);
    expect(kubernetesTargetSchema.safeParse({ ...base, rolloutTimeout: '161s' }).success).toBe(false);
    expect(kubernetesTargetSchema.safeParse({ ...base, rolloutTimeout: 'soon' }).success).toBe(false);
    expect(kubernetesTargetSchema.safeParse({ ...base, restart: [{ kind: 'ReplicaSet', name: 'web' }] }).success).toBe(
      false,
    );
  });

  it('leaves the last poll room to fail with RolloutFailed before the verify activity times out', () => {
    const window = msToNumber(verification.scheduleToCloseTimeout);
    const longestGap = msToNumber(verification.retry.maximumInterval);
    // One more poll after the limit, plus ten seconds for its GETs, still inside the window.
    expect(LONGEST_ROLLOUT_TIMEOUT_MS + longestGap + 10_000).toBeLessThanOrEqual(window);
  });
});

describe('kubernetes store with restart:', () => {
  let fake: KubernetesFake;
  beforeEach(async () => {
    fake = await startKubernetesFake();
    fake.apps.seed('Deployment', 'apps', 'web', { replicas: 3 });
    fake.apps.seed('StatefulSet', 'data', 'db');
    fake.apps.seed('DaemonSet', 'apps', 'agent');
  });
  afterEach(async () => fake.close());

  const target = (extra: Record<string, unknown> = {}) =>
    kubernetesTargetSchema.parse({
      kind: 'kubernetes',
      namespace: 'apps',
      name: 'cf-access',
      restart: [
        { kind: 'Deployment', name: 'web' },
        { kind: 'StatefulSet', name: 'db', namespace: 'data' },
        { kind: 'DaemonSet', name: 'agent' },
      ],
      ...extra,
    });
  const store = (extra: Record<string, unknown> = {}) =>
    createStore(target(extra), {
      cloudflare: () => undefined as never,
      env: {},
      kubeConfig: () => kubeConfigFor(fake.url),
    });

  it('writes the Secret, then annotates every workload with the fingerprint (never the value)', async () => {
    const credential = randomCredential();
    const receipt = await store().write(credential);
    const fingerprint = fingerprintCredential(credential);
    expect(receipt.fingerprint).toBe(fingerprint);
    for (const [kind, namespace, name] of [
      ['Deployment', 'apps', 'web'],
      ['StatefulSet', 'data', 'db'],
      ['DaemonSet', 'apps', 'agent'],
    ] as const) {
      expect(fake.apps.annotations(kind, namespace, name)[FINGERPRINT_ANNOTATION]).toBe(fingerprint);
      const object = JSON.stringify(fake.apps.workload(kind, namespace, name)?.object);
      expect(object).not.toContain(credential.clientSecret);
      expect(object).not.toContain(Buffer.from(credential.clientSecret).toString('base64'));
    }
    // The Secret is written before any pod is restarted to read it.
    const writes = fake.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path}`);
    expect(writes[0]).toBe('POST /api/v1/namespaces/apps/secrets');
    expect(writes.slice(1).sort()).toEqual([
      'PATCH /apis/apps/v1/namespaces/apps/daemonsets/agent',
      'PATCH /apis/apps/v1/namespaces/apps/deployments/web',
      'PATCH /apis/apps/v1/namespaces/data/statefulsets/db',
    ]);
    expect(fake.violations).toEqual([]);
  });

  it('reports consumers not ready until every rollout has completed, one GET per workload per poll', async () => {
    fake.apps.plan('Deployment', 'apps', 'web', { afterPolls: 3 });
    const s = store({ rolloutTimeout: '90s' });
    const receipt = await s.write(randomCredential());
    const polls = [];
    for (let i = 0; i < 3; i++) polls.push(await s.consumersReady!(receipt));
    expect(polls.map((p) => p.consumers.map((c) => c.ready))).toEqual([
      [false, false, false],
      [false, true, true],
      [true, true, true],
    ]);
    expect(polls[0]).toMatchObject({
      timeoutMs: 90_000,
      consumers: [{ consumer: 'Deployment apps/web', detail: '0 of 3 replicas updated' }, {}, {}],
    });
    const gets = fake.requests.filter((r) => r.method === 'GET' && r.path.startsWith('/apis/'));
    expect(gets).toHaveLength(9);
    expect(fake.violations).toEqual([]);
  });

  it('starts no new rollout when the same credential is written again, and rolls back on restore', async () => {
    const old = randomCredential();
    const fresh = randomCredential();
    const s = store();
    await s.write(old);
    const generation = () =>
      (fake.apps.workload('Deployment', 'apps', 'web')?.object.metadata as { generation: number }).generation;
    const afterFirst = generation();
    await s.write(old);
    expect(generation()).toBe(afterFirst);
    await s.write(fresh);
    expect(generation()).toBe(afterFirst + 1);
    await s.restore(old);
    expect(generation()).toBe(afterFirst + 2);
    expect(fake.apps.annotations('Deployment', 'apps', 'web')[FINGERPRINT_ANNOTATION]).toBe(fingerprintCredential(old));
    expect(fake.value('apps', 'cf-access', 'CF_ACCESS_CLIENT_SECRET')).toBe(old.clientSecret);
  });

  it('fails the write for good when a named workload does not exist, without the secret in the error', async () => {
    const credential = randomCredential();
    const error = await store({ restart: [{ kind: 'Deployment', name: 'missing' }] })
      .write(credential)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ operation: 'write', status: 404, retryable: false });
    expectNoSecretIn(error, credential);
  });
});

describe('verifyStore waits for the rollout', () => {
  let fake: KubernetesFake;
  beforeEach(async () => {
    fake = await startKubernetesFake();
    fake.apps.seed('Deployment', 'apps', 'web');
  });
  afterEach(async () => fake.close());

  function activities() {
    const inventory = inventorySchema.parse({
      accounts: [
        {
          id: 'acc',
          serviceTokens: [
            {
              name: 'api',
              targets: [
                {
                  kind: 'kubernetes',
                  namespace: 'apps',
                  name: 'cf-access',
                  restart: [{ kind: 'Deployment', name: 'web' }],
                  rolloutTimeout: '60s',
                },
              ],
            },
          ],
        },
      ],
    });
    const staged = new Map<string, ServiceTokenCredential>([['new', randomCredential()]]);
    return createPropagationActivities({
      inventory,
      pending: { open: async (ref) => staged.get(ref)!, current: async () => undefined },
      stores: { cloudflare: () => undefined as never, env: {}, kubeConfig: () => kubeConfigFor(fake.url) },
    });
  }
  const quiet = { logger: new DefaultLogger('ERROR', () => undefined) };
  const input = { accountId: 'acc', tokenName: 'api', targetIndex: 0 };
  const typeOf = (error: unknown) => (error instanceof Error && 'type' in error ? error.type : error);

  it('retries with RolloutIncomplete inside the window, fails with RolloutFailed after it, passes once rolled out', async () => {
    fake.apps.plan('Deployment', 'apps', 'web', 'never');
    const a = activities();
    const receipt: WriteReceipt = await new MockActivityEnvironment({}, quiet).run(a.propagateToStore, {
      ...input,
      ref: 'new',
    });
    const startedAgo = (ms: number) => new MockActivityEnvironment({ scheduledTimestampMs: Date.now() - ms }, quiet);
    const early = await startedAgo(1_000)
      .run(a.verifyStore, { ...input, receipt })
      .catch((e: unknown) => e);
    expect(typeOf(early)).toBe('RolloutIncomplete');
    expect(early).toMatchObject({ nonRetryable: false });
    const late = await startedAgo(61_000)
      .run(a.verifyStore, { ...input, receipt })
      .catch((e: unknown) => e);
    expect(typeOf(late)).toBe('RolloutFailed');
    expect(late).toMatchObject({ nonRetryable: true });
    expect(String((late as Error).message)).toContain('Deployment apps/web: 0 of 2 replicas updated');

    fake.apps.plan('Deployment', 'apps', 'web', { afterPolls: 1 });
    await expect(startedAgo(61_000).run(a.verifyStore, { ...input, receipt })).resolves.toMatchObject({
      evidence: 'fingerprint',
      fingerprint: receipt.fingerprint,
    });
  });
});
