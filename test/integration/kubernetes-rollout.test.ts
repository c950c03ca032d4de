import { WorkflowFailedError } from '@temporalio/client';
import { fingerprintCredential } from '../../src/stores';
import { FINGERPRINT_ANNOTATION } from '../../src/stores/kubernetes-rollout';
import { startRotationFixture, type RotationFixture } from '../support/rotation-fixture';

/**
 * Issue 16 item 1 on the real stack (Temporal dev server, Postgres, the Cloudflare simulator over
 * HTTP): a kubernetes target that names its consumers rolls them out after the Secret write, and
 * verify waits for the rollout; one that never completes fails verify and the replace compensates.
 */
describe('rollout of the workloads a kubernetes target restarts, on the real stack', () => {
  let f: RotationFixture;

  beforeAll(async () => {
    f = await startRotationFixture([
      {
        name: 'rolled',
        strategy: 'rotate-secret',
        stores: 'file+kubernetes',
        kubernetes: { restart: [{ kind: 'Deployment', name: 'web' }], rolloutTimeout: '60s' },
      },
      {
        name: 'stuck',
        strategy: 'replace',
        stores: 'file+kubernetes',
        kubernetes: { restart: [{ kind: 'Deployment', name: 'worker' }], rolloutTimeout: '4s' },
      },
    ]);
  });
  afterAll(async () => f?.close());

  it('patches the Deployment with the new value fingerprint after the Secret write, and verify waits for the rollout', async () => {
    const old = f.tokens['rolled']!;
    f.k8s.apps.plan('Deployment', 'apps', 'web', { afterPolls: 4 });
    const handle = await f.startRotation('rolled');
    const result = await handle.result();
    expect(result).toMatchObject({ status: 'completed', strategy: 'rotate-secret' });

    const now = f.fileCredential('rolled');
    expect(now.clientSecret).not.toBe(old.clientSecret);
    expect(f.k8s.value('apps', 'rolled-access', 'CF_ACCESS_CLIENT_SECRET')).toBe(now.clientSecret);
    // The annotation is the new value's fingerprint, never the value.
    const annotation = f.k8s.apps.annotations('Deployment', 'apps', 'web')[FINGERPRINT_ANNOTATION];
    expect(annotation).toBe(fingerprintCredential(now));
    expect(annotation).toBe(result.fingerprint);
    const web = f.k8s.apps.workload('Deployment', 'apps', 'web')!;
    for (const form of [now.clientSecret, Buffer.from(now.clientSecret).toString('base64')])
      expect(JSON.stringify(web.object)).not.toContain(form);

    // The Secret was written before the pods were restarted to read it.
    const last = (method: string, prefix: string) =>
      f.k8s.requests.map((r) => r.method === method && r.path.startsWith(prefix)).lastIndexOf(true);
    expect(last('PUT', '/api/v1/namespaces/apps/secrets/rolled-access')).toBeGreaterThanOrEqual(0);
    expect(last('PATCH', '/apis/apps/v1/namespaces/apps/deployments/web')).toBeGreaterThan(
      last('PUT', '/api/v1/namespaces/apps/secrets/rolled-access'),
    );

    // Verify polled the rollout until it completed, and finished only after that.
    expect(web.polls).toBe(4);
    expect(web.completedAt).toBeDefined();
    const [row] = await f.stack.rotations.listRotations({ tokenName: 'rolled', limit: 1 });
    const verify = row!.steps.find((s) => s.step === 'verify')!;
    expect(verify.outcome).toBe('ok');
    expect(Date.parse(verify.finishedAt)).toBeGreaterThanOrEqual(web.completedAt!);
    expect(await f.probe(now)).toBe(200);
    expect(f.k8s.violations).toEqual([]);
  });

  it('compensates a replace whose rollout never completes: old credential valid, Secret and annotation restored', async () => {
    const old = f.tokens['stuck']!;
    const oldFingerprint = fingerprintCredential({ clientId: old.clientId, clientSecret: old.clientSecret });
    expect(f.k8s.apps.annotations('Deployment', 'apps', 'worker')[FINGERPRINT_ANNOTATION]).toBe(oldFingerprint);
    f.k8s.apps.plan('Deployment', 'apps', 'worker', 'never');
    const startedAt = Date.now();
    const handle = await f.startRotation('stuck');
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    // The 4 s rolloutTimeout ran out before verify gave up.
    expect(Date.now() - startedAt).toBeGreaterThanOrEqual(4_000);

    const [row] = await f.stack.rotations.listRotations({ tokenName: 'stuck', limit: 1 });
    expect(row?.status).toBe('compensated');
    const verify = row!.steps.find((s) => s.step === 'verify')!;
    expect(verify.outcome).toBe('failed');
    expect(verify.details).toMatchObject({ type: 'RolloutFailed' });
    const issued = row!.steps.find((s) => s.step === 'issue')!.details as { tokenId: string };
    expect(f.stack.sim.state.getServiceToken(issued.tokenId)).toBeUndefined();

    // The rollout of the new credential was started, then rolled back by the restore.
    const worker = f.k8s.apps.workload('Deployment', 'apps', 'worker')!;
    const propagated = row!.steps.find((s) => s.step === 'propagate')!.details as {
      stores: Array<{ store: string; fingerprint: string }>;
    };
    const newFingerprint = propagated.stores.find((s) => s.store.startsWith('kubernetes:'))!.fingerprint;
    expect(newFingerprint).not.toBe(oldFingerprint);
    const annotations = worker.patches.map((p) => p.annotations[FINGERPRINT_ANNOTATION]);
    expect(annotations.slice(-2)).toEqual([newFingerprint, oldFingerprint]);
    expect(f.k8s.value('apps', 'stuck-access', 'CF_ACCESS_CLIENT_SECRET')).toBe(old.clientSecret);
    expect(f.fileCredential('stuck')).toEqual({ clientId: old.clientId, clientSecret: old.clientSecret });
    expect(await f.probe({ clientId: old.clientId, clientSecret: old.clientSecret })).toBe(200);
    expect(row?.steps.at(-1)).toMatchObject({ step: 'compensate', outcome: 'compensated' });
    expect(f.k8s.violations).toEqual([]);
  });
});
