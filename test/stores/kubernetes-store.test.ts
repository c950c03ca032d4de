import { readBackConfirms } from '../../src/stores/evidence';
import { fingerprintCredential } from '../../src/stores/fingerprint';
import { createKubernetesStore, kubernetesSecretsApi } from '../../src/stores/kubernetes-store';
import { createStore } from '../../src/stores/registry';
import { StoreError } from '../../src/stores/store-error';
import { kubernetesTargetSchema, propagationTargetSchema } from '../../src/stores/store-schemas';
import { kubeConfigFor, startKubernetesFake, type KubernetesFake } from '../fakes/kubernetes-api';
import { expectNoSecretIn, randomCredential } from './credentials';

const NAMESPACE = 'apps';
const NAME = 'cf-access';
let fake: KubernetesFake;

beforeEach(async () => {
  fake = await startKubernetesFake();
});

afterEach(async () => {
  await fake.close();
});

function store(extra: Record<string, unknown> = {}) {
  const target = kubernetesTargetSchema.parse({ kind: 'kubernetes', namespace: NAMESPACE, name: NAME, ...extra });
  return createKubernetesStore(target, kubernetesSecretsApi(kubeConfigFor(fake.url)));
}

const writes = () => fake.requests.filter((request) => request.method !== 'GET').map((request) => request.method);

describe('kubernetes store', () => {
  it('creates a missing Secret that reads back as the credential fingerprint', async () => {
    const credential = randomCredential();
    const target = store();

    const receipt = await target.write(credential);

    expect(target.label).toBe('kubernetes:apps/cf-access');
    expect(receipt).toMatchObject({ changed: true, fingerprint: fingerprintCredential(credential) });
    expect(fake.value(NAMESPACE, NAME, 'CF_ACCESS_CLIENT_ID')).toBe(credential.clientId);
    expect(fake.value(NAMESPACE, NAME, 'CF_ACCESS_CLIENT_SECRET')).toBe(credential.clientSecret);
    expect(fake.secret(NAMESPACE, NAME)?.type).toBe('Opaque');
    expect(readBackConfirms(receipt, await target.readBack())).toBe(true);
    expect(writes()).toEqual(['POST']);
    expect(fake.violations).toEqual([]);
  });

  it('writes nothing when the Secret already holds the credential', async () => {
    const credential = randomCredential();
    const target = store();
    await target.write(credential);
    const version = fake.secret(NAMESPACE, NAME)?.metadata.resourceVersion;

    const again = await target.write(credential);

    expect(again.changed).toBe(false);
    expect(fake.secret(NAMESPACE, NAME)?.metadata.resourceVersion).toBe(version);
    expect(writes()).toEqual(['POST']);
  });

  it('replaces only its own keys, keeping the others', async () => {
    fake.seed(NAMESPACE, NAME, { DATABASE_URL: 'postgres://db', CF_ACCESS_CLIENT_ID: 'old' });
    const credential = randomCredential();

    await store({ keys: { clientId: 'CF_ACCESS_CLIENT_ID', clientSecret: 'cf.secret' } }).write(credential);

    expect(fake.value(NAMESPACE, NAME, 'DATABASE_URL')).toBe('postgres://db');
    expect(fake.value(NAMESPACE, NAME, 'CF_ACCESS_CLIENT_ID')).toBe(credential.clientId);
    expect(fake.value(NAMESPACE, NAME, 'cf.secret')).toBe(credential.clientSecret);
    expect(writes()).toEqual(['PUT']);
    expect(fake.violations).toEqual([]);
  });

  it('re-reads and retries when a concurrent writer made its resourceVersion stale, keeping that writer’s keys', async () => {
    fake.seed(NAMESPACE, NAME, { DATABASE_URL: 'postgres://db' });
    fake.concurrentWriteBefore('PUT', NAMESPACE, NAME, { ADDED_MEANWHILE: 'yes' });
    const credential = randomCredential();
    const target = store();

    const receipt = await target.write(credential);

    expect(writes()).toEqual(['PUT', 'PUT']);
    expect(fake.value(NAMESPACE, NAME, 'ADDED_MEANWHILE')).toBe('yes');
    expect(fake.value(NAMESPACE, NAME, 'DATABASE_URL')).toBe('postgres://db');
    expect(readBackConfirms(receipt, await target.readBack())).toBe(true);
    expect(fake.violations).toEqual([]);
  });

  it('gives up after a bounded number of conflicts with a retryable error', async () => {
    fake.seed(NAMESPACE, NAME, {});
    fake.concurrentWriteBefore('PUT', NAMESPACE, NAME, { BUSY: 'yes' }, 50);

    const error = await store()
      .write(randomCredential())
      .catch((caught: unknown) => caught);

    expect(error).toMatchObject({ name: 'StoreError', status: 409, retryable: true });
    expect(writes()).toEqual(['PUT', 'PUT', 'PUT', 'PUT', 'PUT']);
  });

  it('creates after losing a create race', async () => {
    fake.failNext('POST', 409);
    const credential = randomCredential();

    await store().write(credential);

    expect(writes()).toEqual(['POST', 'POST']);
    expect(fake.value(NAMESPACE, NAME, 'CF_ACCESS_CLIENT_SECRET')).toBe(credential.clientSecret);
  });

  it('restores the previous credential', async () => {
    const previous = randomCredential();
    const target = store();
    await target.write(previous);
    await target.write(randomCredential());

    await target.restore(previous);

    expect(await target.readBack()).toEqual({ evidence: 'fingerprint', fingerprint: fingerprintCredential(previous) });
  });

  it('reads back null when the Secret or a key is missing', async () => {
    const target = store();
    expect(await target.readBack()).toEqual({ evidence: 'fingerprint', fingerprint: null });
    fake.seed(NAMESPACE, NAME, { CF_ACCESS_CLIENT_ID: 'only-the-id' });
    expect(await target.readBack()).toEqual({ evidence: 'fingerprint', fingerprint: null });
  });

  it('fails without retrying on an immutable Secret', async () => {
    fake.seed(NAMESPACE, NAME, { CF_ACCESS_CLIENT_ID: 'old', CF_ACCESS_CLIENT_SECRET: 'old' }, { immutable: true });
    const credential = randomCredential();

    const error = await store()
      .write(credential)
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ status: 422, retryable: false, operation: 'write' });
    expect(String(error)).toContain('Invalid');
    expectNoSecretIn(error, credential);
  });

  it('keeps the secret out of the error even when the server quotes the request back', async () => {
    fake.seed(NAMESPACE, NAME, {});
    fake.failNext('PUT', 422, { echoRequest: true });
    const credential = randomCredential();

    const error = await store()
      .write(credential)
      .catch((caught: unknown) => caught);

    expect(error).toMatchObject({ name: 'StoreError', status: 422 });
    expect(String(error)).toContain('[redacted]');
    expectNoSecretIn(error, credential);
  });

  it('reports a server error as retryable', async () => {
    fake.failNext('GET', 503);
    const error = await store()
      .readBack()
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'StoreError', operation: 'readBack', status: 503, retryable: true });
  });

  it('is built by the registry from a YAML-shaped target and an injected kubeconfig', async () => {
    const target = propagationTargetSchema.parse({
      kind: 'kubernetes',
      namespace: NAMESPACE,
      name: NAME,
      context: 'fake',
    });
    const built = createStore(target, {
      env: {},
      cloudflare: unusedCloudflare,
      kubeConfig: () => kubeConfigFor(fake.url),
    });
    const credential = randomCredential();

    await built.write(credential);

    expect(built.label).toBe('kubernetes:apps/cf-access@fake');
    expect(fake.value(NAMESPACE, NAME, 'CF_ACCESS_CLIENT_SECRET')).toBe(credential.clientSecret);
  });

  it('fails to configure, without retrying, when the kubeconfig file does not exist', () => {
    const target = propagationTargetSchema.parse({
      kind: 'kubernetes',
      namespace: NAMESPACE,
      name: NAME,
      kubeconfig: '/nonexistent/kubeconfig',
    });
    expect(() => createStore(target, { env: {}, cloudflare: unusedCloudflare })).toThrow(
      expect.objectContaining({ name: 'StoreError', operation: 'configure', retryable: false }),
    );
  });
});

function unusedCloudflare(): never {
  throw new Error('no Cloudflare target in this test');
}
