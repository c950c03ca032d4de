import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { createPropagationActivities, type PropagateInput } from '../../src/activities/propagation';
import { inventorySchema } from '../../src/config';
import { fingerprintCredential, type ServiceTokenCredential, type WriteReceipt } from '../../src/stores';
import { randomCredential } from './credentials';
import { startDemoSimulator, type SimulatorFixture } from './simulator';

let sim: SimulatorFixture;

beforeEach(async () => {
  sim = await startDemoSimulator();
});

afterEach(async () => {
  await sim.simulator.close();
});

const WORKERS = 0;
const SECRETS_STORE = 1;

/** The propagation activities over the simulator, with a pending-secret store in memory. */
function world() {
  const accountId = sim.demo.accountId;
  const inventory = inventorySchema.parse({
    accounts: [
      {
        id: accountId,
        serviceTokens: [
          {
            name: 'api',
            targets: [
              { kind: 'workers-secret', script: sim.demo.workerScript.name },
              { kind: 'secrets-store', storeId: sim.demo.secretsStore.id },
            ],
          },
        ],
      },
    ],
  });
  const staged = new Map<string, ServiceTokenCredential>();
  let currentRef: string | undefined;
  const pending = {
    open: async (ref: string) => {
      const credential = staged.get(ref);
      if (credential === undefined) throw new Error(`no staged secret ${ref}`);
      return credential;
    },
    current: async () =>
      currentRef === undefined
        ? undefined
        : { ref: currentRef, fingerprint: fingerprintCredential(staged.get(currentRef)!), stage: 'current' as const },
  };
  const activities = createPropagationActivities({
    inventory,
    pending,
    stores: { cloudflare: () => sim.client, env: {} },
  });
  // Quiet: the verification failures some tests expect would otherwise be logged at length.
  const env = new MockActivityEnvironment({}, { logger: new DefaultLogger('ERROR', () => undefined) });
  const token = { accountId, tokenName: 'api' };
  return {
    stage: (ref: string, credential: ServiceTokenCredential) => void staged.set(ref, credential),
    setCurrent: (ref: string) => {
      currentRef = ref;
    },
    /** Both Cloudflare-hosted targets: write, then read back; the verify error's type if it failed. */
    async round(ref: string, round?: number): Promise<Array<string | 'confirmed'>> {
      const outcomes: Array<string | 'confirmed'> = [];
      for (const targetIndex of [WORKERS, SECRETS_STORE]) {
        const input: PropagateInput = { ...token, targetIndex, ref, ...(round === undefined ? {} : { round }) };
        const receipt: WriteReceipt = await env.run(activities.propagateToStore, input);
        const verified = await env.run(activities.verifyStore, { ...token, targetIndex, receipt }).then(
          () => 'confirmed' as const,
          (error: unknown) => (error instanceof Error && 'type' in error ? String(error.type) : 'failed'),
        );
        outcomes.push(verified);
      }
      return outcomes;
    },
  };
}

function holds(credential: ServiceTokenCredential): { workers: boolean; secretsStore: boolean } {
  const { state } = sim.simulator;
  const script = { accountId: sim.demo.accountId, scriptName: sim.demo.workerScript.name };
  const storeId = sim.demo.secretsStore.id;
  return {
    workers:
      state.workerSecretMatches({ ...script, name: 'CF_ACCESS_CLIENT_ID', value: credential.clientId }) &&
      state.workerSecretMatches({ ...script, name: 'CF_ACCESS_CLIENT_SECRET', value: credential.clientSecret }),
    secretsStore:
      state.secretsStoreSecretMatches({ storeId, name: 'CF_ACCESS_CLIENT_ID', value: credential.clientId }) &&
      state.secretsStoreSecretMatches({ storeId, name: 'CF_ACCESS_CLIENT_SECRET', value: credential.clientSecret }),
  };
}

/** The stores hold `current` (written as an operator adopting the token would) and know it as current. */
async function adopted(w: ReturnType<typeof world>): Promise<ServiceTokenCredential> {
  const current = randomCredential();
  w.stage('current', current);
  w.setCurrent('current');
  expect(await w.round('current')).toEqual(['confirmed', 'confirmed']);
  expect(holds(current)).toEqual({ workers: true, secretsStore: true });
  sim.simulator.calls.reset();
  return current;
}

const ok = (n: number) => ({ '200': n });

describe('propagation activities: what each round writes to Cloudflare', () => {
  it('writes only the client secret in round 1 of a rotate-secret rotation: one write and one read per store', async () => {
    const w = world();
    const current = await adopted(w);
    const next = { clientId: current.clientId, clientSecret: randomCredential().clientSecret };
    w.stage('next', next);

    expect(await w.round('next', 1)).toEqual(['confirmed', 'confirmed']);

    expect(sim.simulator.calls.counts()).toEqual({
      'worker-put-script-secret': ok(1),
      'worker-list-script-secrets': ok(1),
      'secrets-store-patch-by-id': ok(1),
      'secrets-store-secrets-list': ok(1),
    });
    expect(holds(next)).toEqual({ workers: true, secretsStore: true });
  });

  it('treats an input without a round as round 1', async () => {
    const w = world();
    const current = await adopted(w);
    w.stage('next', { clientId: current.clientId, clientSecret: randomCredential().clientSecret });

    expect(await w.round('next')).toEqual(['confirmed', 'confirmed']);

    expect(sim.simulator.calls.count('worker-put-script-secret')).toBe(1);
    expect(sim.simulator.calls.count('secrets-store-patch-by-id')).toBe(1);
  });

  it('writes the client id too when it changed (replace)', async () => {
    const w = world();
    await adopted(w);
    const next = randomCredential();
    w.stage('next', next);

    expect(await w.round('next', 1)).toEqual(['confirmed', 'confirmed']);

    expect(sim.simulator.calls.count('worker-put-script-secret')).toBe(2);
    expect(sim.simulator.calls.count('secrets-store-patch-by-id')).toBe(2);
    expect(holds(next)).toEqual({ workers: true, secretsStore: true });
  });

  it('writes both halves when no current credential is on record', async () => {
    const w = world();
    const next = randomCredential();
    w.stage('next', next);

    expect(await w.round('next', 1)).toEqual(['confirmed', 'confirmed']);

    expect(sim.simulator.calls.count('worker-put-script-secret')).toBe(2);
    expect(sim.simulator.calls.count('secrets-store-secret-create')).toBe(1);
    expect(holds(next)).toEqual({ workers: true, secretsStore: true });
  });

  it('fails verification in round 1 when the id was deleted by hand, and round 2 writes both halves back', async () => {
    const w = world();
    const current = await adopted(w);
    const { accountId, workerScript, secretsStore } = sim.demo;
    const { state } = sim.simulator;
    state.workers.deleteSecret({ accountId, namespace: null, name: workerScript.name }, 'CF_ACCESS_CLIENT_ID');
    const idSecret = state.secretsStore
      .listSecrets(accountId, secretsStore.id)
      .find((secret) => secret.name === 'CF_ACCESS_CLIENT_ID');
    state.secretsStore.deleteSecret(accountId, secretsStore.id, idSecret!.id);
    const next = { clientId: current.clientId, clientSecret: randomCredential().clientSecret };
    w.stage('next', next);

    expect(await w.round('next', 1)).toEqual(['StoreNotUpdated', 'StoreNotUpdated']);
    sim.simulator.calls.reset();
    expect(await w.round('next', 2)).toEqual(['confirmed', 'confirmed']);

    expect(sim.simulator.calls.count('worker-put-script-secret')).toBe(2);
    // The remembered id of the deleted secret is gone (404): one list, then a create for it.
    expect(sim.simulator.calls.counts()).toMatchObject({
      'secrets-store-patch-by-id': { '404': 1, '200': 1 },
      'secrets-store-secrets-list': ok(2),
      'secrets-store-secret-create': ok(1),
    });
    expect(holds(next)).toEqual({ workers: true, secretsStore: true });
  });
});
