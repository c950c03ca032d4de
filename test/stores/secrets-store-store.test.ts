import { createStoreMemo } from '../../src/db/store-memo';
import { readBackConfirms } from '../../src/stores/evidence';
import { fingerprintCredential } from '../../src/stores/fingerprint';
import type { StoreMemo } from '../../src/stores/memo';
import { createSecretsStoreStore } from '../../src/stores/secrets-store-store';
import { secretsStoreTargetSchema } from '../../src/stores/store-schemas';
import type { ServiceTokenCredential } from '../../src/stores/store-types';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { expectNoSecretIn, randomCredential } from './credentials';
import { startDemoSimulator, type SimulatorFixture } from './simulator';

let sim: SimulatorFixture;

beforeEach(async () => {
  sim = await startDemoSimulator();
});

afterEach(async () => {
  await sim.simulator.close();
});

function store(extra: Record<string, unknown> = {}, memo?: StoreMemo) {
  const target = secretsStoreTargetSchema.parse({ kind: 'secrets-store', storeId: sim.demo.secretsStore.id, ...extra });
  return createSecretsStoreStore(target, sim.client, sim.demo.accountId, memo);
}

function holds(credential: ServiceTokenCredential): boolean {
  const storeId = sim.demo.secretsStore.id;
  const { state } = sim.simulator;
  return (
    state.secretsStoreSecretMatches({ storeId, name: 'CF_ACCESS_CLIENT_ID', value: credential.clientId }) &&
    state.secretsStoreSecretMatches({ storeId, name: 'CF_ACCESS_CLIENT_SECRET', value: credential.clientSecret })
  );
}

/** What the store holds, read from the simulator's state: no API request, so none is counted. */
function listed() {
  return sim.simulator.state.secretsStore.listSecrets(sim.demo.accountId, sim.demo.secretsStore.id);
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
    const secrets = listed();
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
    expect(listed().filter((secret) => secret.name.startsWith('CF_ACCESS_'))).toHaveLength(2);
    expect(sim.simulator.calls.count('secrets-store-secret-create')).toBe(1);
  });

  it('restores the previous credential', async () => {
    const previous = randomCredential();
    const target = store();
    await target.write(previous);
    await target.write(randomCredential());

    await target.restore(previous);

    expect(holds(previous)).toBe(true);
    expect(await target.readBack()).toEqual({
      evidence: 'recorded-fingerprint',
      fingerprint: fingerprintCredential(previous),
    });
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
    expect(listed().filter((secret) => secret.name.startsWith('CF_ACCESS_'))).toHaveLength(2);
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
    const error = await store({ storeId: '0'.repeat(32) })
      .write(randomCredential())
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'StoreError', status: 404, retryable: false });
  });
});

describe('secrets store store: Cloudflare requests', () => {
  const LIST = 'secrets-store-secrets-list';
  const PATCH = 'secrets-store-patch-by-id';
  const CREATE = 'secrets-store-secret-create';
  const ok = (n: number) => ({ '200': n });

  /** A memo the test can look into and spoil. */
  function mapMemo(): StoreMemo & { entries: Map<string, string> } {
    const entries = new Map<string, string>();
    return { entries, get: async (key) => entries.get(key), set: async (key, value) => void entries.set(key, value) };
  }

  /** A credential as rotate-secret issues it: the same client id, a new secret. */
  const rotated = (previous: ServiceTokenCredential): ServiceTokenCredential => ({
    clientId: previous.clientId,
    clientSecret: randomCredential().clientSecret,
  });

  function secretNamed(name: string) {
    const found = listed().find((secret) => secret.name === name);
    if (found === undefined) throw new Error(`no secret ${name}`);
    return found;
  }

  function deleteSecret(name: string): void {
    sim.simulator.state.secretsStore.deleteSecret(sim.demo.accountId, sim.demo.secretsStore.id, secretNamed(name).id);
  }

  it('creates both secrets in an empty store with one list and one create', async () => {
    const memo = mapMemo();
    const credential = randomCredential();

    const receipt = await store({}, memo).write(credential);
    expect(sim.simulator.calls.counts()).toEqual({ [LIST]: ok(1), [CREATE]: ok(1) });
    expect(readBackConfirms(receipt, await store({}, memo).readBack())).toBe(true);

    expect(sim.simulator.calls.counts()).toEqual({ [LIST]: ok(2), [CREATE]: ok(1) });
    expect(holds(credential)).toBe(true);
    expect([...memo.entries.values()].sort()).toEqual(
      [secretNamed('CF_ACCESS_CLIENT_ID').id, secretNamed('CF_ACCESS_CLIENT_SECRET').id].sort(),
    );
  });

  it('sends one PATCH and one list for a rotate-secret credential once the ids are remembered', async () => {
    const memo = mapMemo();
    const previous = randomCredential();
    await store({}, memo).write(previous);
    sim.simulator.calls.reset();
    const next = rotated(previous);

    const receipt = await store({}, memo).write(next, { clientIdUnchanged: true });
    const actual = await store({}, memo).readBack();

    expect(sim.simulator.calls.counts()).toEqual({ [PATCH]: ok(1), [LIST]: ok(1) });
    expect(readBackConfirms(receipt, actual)).toBe(true);
    expect(actual).toEqual({ evidence: 'recorded-fingerprint', fingerprint: fingerprintCredential(next) });
    expect(holds(next)).toBe(true);
    // The unchanged id secret was left alone: its comment still names the credential it was written with.
    expect(secretNamed('CF_ACCESS_CLIENT_ID').comment).toBe(
      `token-warden credential ${fingerprintCredential(previous)}`,
    );
  });

  it('edits the id secret too for a replace credential (a new client id)', async () => {
    const memo = mapMemo();
    await store({}, memo).write(randomCredential());
    sim.simulator.calls.reset();
    const next = randomCredential();

    const receipt = await store({}, memo).write(next, { clientIdUnchanged: false });
    const confirmed = readBackConfirms(receipt, await store({}, memo).readBack());

    expect(sim.simulator.calls.counts()).toEqual({ [PATCH]: ok(2), [LIST]: ok(1) });
    expect(confirmed).toBe(true);
    expect(holds(next)).toBe(true);
  });

  it('lists once to learn the ids of secrets it did not create, then edits by id', async () => {
    const previous = randomCredential();
    await store().write(previous); // another process, another memo
    const memo = mapMemo();
    sim.simulator.calls.reset();

    await store({}, memo).write(rotated(previous), { clientIdUnchanged: true });
    expect(sim.simulator.calls.counts()).toEqual({ [LIST]: ok(1), [PATCH]: ok(1) });

    sim.simulator.calls.reset();
    const next = rotated(previous);
    await store({}, memo).write(next, { clientIdUnchanged: true });
    expect(sim.simulator.calls.counts()).toEqual({ [PATCH]: ok(1) });
    expect(holds(next)).toBe(true);
  });

  it('recovers from a stale remembered id with one list, and edits by the new id afterwards', async () => {
    const memo = mapMemo();
    const previous = randomCredential();
    await store({}, memo).write(previous);
    for (const key of memo.entries.keys()) memo.entries.set(key, 'f'.repeat(32));
    sim.simulator.calls.reset();
    const next = rotated(previous);

    const receipt = await store({}, memo).write(next, { clientIdUnchanged: true });

    expect(sim.simulator.calls.counts()).toEqual({ [PATCH]: { '404': 1, '200': 1 }, [LIST]: ok(1) });
    expect(readBackConfirms(receipt, await store({}, memo).readBack())).toBe(true);
    expect(holds(next)).toBe(true);
    sim.simulator.calls.reset();
    await store({}, memo).write(rotated(previous), { clientIdUnchanged: true });
    expect(sim.simulator.calls.counts()).toEqual({ [PATCH]: ok(1) });
  });

  it('creates both secrets again when both remembered ones were deleted, even the id the caller called unchanged', async () => {
    const memo = mapMemo();
    const previous = randomCredential();
    await store({}, memo).write(previous);
    deleteSecret('CF_ACCESS_CLIENT_ID');
    deleteSecret('CF_ACCESS_CLIENT_SECRET');
    sim.simulator.calls.reset();
    const next = rotated(previous);

    const receipt = await store({}, memo).write(next, { clientIdUnchanged: true });

    expect(sim.simulator.calls.counts()).toEqual({ [PATCH]: { '404': 1 }, [LIST]: ok(1), [CREATE]: ok(1) });
    expect(readBackConfirms(receipt, await store({}, memo).readBack())).toBe(true);
    expect(holds(next)).toBe(true);
  });

  it('reads back no fingerprint when the id secret alone was deleted, until a write without the hint creates it', async () => {
    const memo = mapMemo();
    const previous = randomCredential();
    await store({}, memo).write(previous);
    deleteSecret('CF_ACCESS_CLIENT_ID');
    const next = rotated(previous);

    const hinted = await store({}, memo).write(next, { clientIdUnchanged: true });
    expect(await store({}, memo).readBack()).toEqual({ evidence: 'recorded-fingerprint', fingerprint: null });

    sim.simulator.calls.reset();
    const full = await store({}, memo).write(next);
    expect(sim.simulator.calls.counts()).toEqual({ [PATCH]: { '404': 1, '200': 1 }, [LIST]: ok(1), [CREATE]: ok(1) });
    expect(readBackConfirms(full, await store({}, memo).readBack())).toBe(true);
    expect(readBackConfirms(hinted, await store({}, memo).readBack())).toBe(true);
    expect(holds(next)).toBe(true);
  });

  it('reads a store full of other secrets with one list request', async () => {
    const { accountId, secretsStore } = sim.demo;
    sim.simulator.state.setSecretsQuota(1_000);
    const credential = randomCredential();
    const target = store();
    const others = Array.from({ length: 120 }, (_, i) => ({
      name: `OTHER_${i}`,
      value: 'x',
      scopes: ['workers' as const],
    }));
    sim.simulator.state.secretsStore.createSecrets(accountId, secretsStore.id, others);
    await target.write(credential);
    sim.simulator.calls.reset();

    expect(await target.readBack()).toEqual({
      evidence: 'recorded-fingerprint',
      fingerprint: fingerprintCredential(credential),
    });

    expect(sim.simulator.calls.counts()).toEqual({ [LIST]: ok(1) });
  });

  it('pages through secrets sharing our names’ prefix without asking for an empty page', async () => {
    const { accountId, secretsStore } = sim.demo;
    sim.simulator.state.setSecretsQuota(1_000);
    const credential = randomCredential();
    const target = store();
    // Created before ours, so ours come after the first page of matches (50).
    const alike = Array.from({ length: 55 }, (_, i) => ({
      name: `CF_ACCESS_CLIENT_OTHER_${i}`,
      value: 'x',
      scopes: ['workers' as const],
    }));
    sim.simulator.state.secretsStore.createSecrets(accountId, secretsStore.id, alike);
    sim.simulator.clock.advance(1_000);
    await target.write(credential);
    sim.simulator.calls.reset();

    expect(await target.readBack()).toEqual({
      evidence: 'recorded-fingerprint',
      fingerprint: fingerprintCredential(credential),
    });

    expect(sim.simulator.calls.counts()).toEqual({ [LIST]: ok(2) });
  });
  it('stops at a full page that holds every match, without asking for the empty page after it', async () => {
    const { accountId, secretsStore } = sim.demo;
    const credential = randomCredential();
    const target = store();
    await target.write(credential);
    deleteSecret('CF_ACCESS_CLIENT_ID');
    sim.simulator.clock.advance(1_000);
    // With the client secret, exactly one page (50) of matches; the id secret is missing.
    const alike = Array.from({ length: 49 }, (_, i) => ({
      name: `CF_ACCESS_CLIENT_OTHER_${i}`,
      value: 'x',
      scopes: ['workers' as const],
    }));
    sim.simulator.state.secretsStore.createSecrets(accountId, secretsStore.id, alike);
    sim.simulator.calls.reset();

    expect(await target.readBack()).toEqual({ evidence: 'recorded-fingerprint', fingerprint: null });

    expect(sim.simulator.calls.counts()).toEqual({ [LIST]: ok(1) });
  });
});

describe('secrets store store: memo in Postgres', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => db?.drop());

  it('remembers the ids for a new store instance on another memo over the same database', async () => {
    const previous = randomCredential();
    await store({}, createStoreMemo(db.pool)).write(previous);
    sim.simulator.calls.reset();
    const next = { clientId: previous.clientId, clientSecret: randomCredential().clientSecret };

    const receipt = await store({}, createStoreMemo(db.pool)).write(next, { clientIdUnchanged: true });
    const confirmed = readBackConfirms(receipt, await store({}, createStoreMemo(db.pool)).readBack());

    expect(sim.simulator.calls.counts()).toEqual({
      'secrets-store-patch-by-id': { '200': 1 },
      'secrets-store-secrets-list': { '200': 1 },
    });
    expect(confirmed).toBe(true);
    expect(holds(next)).toBe(true);
  });
});
