import { readBackConfirms } from '../../src/stores/evidence';
import { fingerprintCredential } from '../../src/stores/fingerprint';
import { createSecretsStoreStore } from '../../src/stores/secrets-store-store';
import { secretsStoreTargetSchema } from '../../src/stores/store-schemas';
import type { ServiceTokenCredential } from '../../src/stores/store-types';
import { expectNoSecretIn, randomCredential } from './credentials';
import { startDemoSimulator, type SimulatorFixture } from './simulator';

let sim: SimulatorFixture;

beforeEach(async () => {
  sim = await startDemoSimulator();
});

afterEach(async () => {
  await sim.simulator.close();
});

function store(extra: Record<string, unknown> = {}) {
  const target = secretsStoreTargetSchema.parse({ kind: 'secrets-store', storeId: sim.demo.secretsStore.id, ...extra });
  return createSecretsStoreStore(target, sim.client, sim.demo.accountId);
}

function holds(credential: ServiceTokenCredential): boolean {
  const storeId = sim.demo.secretsStore.id;
  const { state } = sim.simulator;
  return (
    state.secretsStoreSecretMatches({ storeId, name: 'CF_ACCESS_CLIENT_ID', value: credential.clientId }) &&
    state.secretsStoreSecretMatches({ storeId, name: 'CF_ACCESS_CLIENT_SECRET', value: credential.clientSecret })
  );
}

async function listed() {
  const secrets = [];
  for await (const secret of sim.client.secretsStore.stores.secrets.list(sim.demo.secretsStore.id, { account_id: sim.demo.accountId })) {
    secrets.push(secret);
  }
  return secrets;
}

describe('secrets store store', () => {
  it('creates both secrets with the fingerprint in their comment and reads it back', async () => {
    const credential = randomCredential();
    const target = store();

    const receipt = await target.write(credential);

    const fingerprint = fingerprintCredential(credential);
    expect(target.label).toBe(`secrets-store:${sim.demo.accountId}/${sim.demo.secretsStore.id}`);
    expect(holds(credential)).toBe(true);
    expect(receipt).toMatchObject({ fingerprint, expected: { evidence: 'recorded-fingerprint', fingerprint } });
    expect(await target.readBack()).toEqual({ evidence: 'recorded-fingerprint', fingerprint });
    expect(readBackConfirms(receipt, await target.readBack())).toBe(true);
    const secrets = await listed();
    expect(secrets.map((secret) => [secret.name, secret.scopes, secret.comment])).toEqual(
      expect.arrayContaining([
        ['CF_ACCESS_CLIENT_ID', ['workers'], `token-warden credential ${fingerprint}`],
        ['CF_ACCESS_CLIENT_SECRET', ['workers'], `token-warden credential ${fingerprint}`],
      ]),
    );
  });

  it('edits the existing secrets on the next write instead of creating more', async () => {
    const target = store();
    await target.write(randomCredential());
    const next = randomCredential();

    await target.write(next);
    await target.write(next);

    expect(holds(next)).toBe(true);
    expect((await listed()).filter((secret) => secret.name.startsWith('CF_ACCESS_'))).toHaveLength(2);
    expect(sim.simulator.calls.count('secrets-store-secret-create')).toBe(1);
  });

  it('restores the previous credential', async () => {
    const previous = randomCredential();
    const target = store();
    await target.write(previous);
    await target.write(randomCredential());

    await target.restore(previous);

    expect(holds(previous)).toBe(true);
    expect(await target.readBack()).toEqual({ evidence: 'recorded-fingerprint', fingerprint: fingerprintCredential(previous) });
  });

  it('reads back no fingerprint before anything was written', async () => {
    expect(await store().readBack()).toEqual({ evidence: 'recorded-fingerprint', fingerprint: null });
  });

  it('recovers from a create whose response was lost by editing what it created', async () => {
    sim.simulator.faults.add({ match: { operationId: 'secrets-store-secret-create' }, applyThenDrop: true, times: 1 });
    const credential = randomCredential();
    const target = store();

    const lost = await target.write(credential).catch((caught: unknown) => caught);
    expect(lost).toMatchObject({ name: 'StoreError', retryable: true });
    expectNoSecretIn(lost, credential);

    await target.write(credential);

    expect(holds(credential)).toBe(true);
    expect((await listed()).filter((secret) => secret.name.startsWith('CF_ACCESS_'))).toHaveLength(2);
  });

  it('keeps the secret out of a failed edit’s error', async () => {
    const target = store();
    await target.write(randomCredential());
    sim.simulator.faults.add({ match: { operationId: 'secrets-store-patch-by-id' }, status: 500 });
    const credential = randomCredential();

    const error = await target.write(credential).catch((caught: unknown) => caught);

    expect(error).toMatchObject({ name: 'StoreError', status: 500, retryable: true });
    expectNoSecretIn(error, credential);
  });

  it('fails without retrying for a store that does not exist', async () => {
    const error = await store({ storeId: '0'.repeat(32) }).write(randomCredential()).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'StoreError', status: 404, retryable: false });
  });
});
