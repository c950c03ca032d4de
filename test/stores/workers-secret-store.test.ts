import { readBackConfirms } from '../../src/stores/evidence';
import { fingerprintCredential } from '../../src/stores/fingerprint';
import { createStore } from '../../src/stores/registry';
import { StoreError } from '../../src/stores/store-error';
import { propagationTargetSchema, workersSecretTargetSchema } from '../../src/stores/store-schemas';
import type { ServiceTokenCredential } from '../../src/stores/store-types';
import { createWorkersSecretStore } from '../../src/stores/workers-secret-store';
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
  const target = workersSecretTargetSchema.parse({
    kind: 'workers-secret',
    script: sim.demo.workerScript.name,
    ...extra,
  });
  return createWorkersSecretStore(target, sim.client, sim.demo.accountId);
}

function holds(
  credential: ServiceTokenCredential,
  script: { scriptName: string; dispatchNamespace?: string } = { scriptName: sim.demo.workerScript.name },
): boolean {
  const where = { accountId: sim.demo.accountId, ...script };
  return (
    sim.simulator.state.workerSecretMatches({ ...where, name: 'CF_ACCESS_CLIENT_ID', value: credential.clientId }) &&
    sim.simulator.state.workerSecretMatches({
      ...where,
      name: 'CF_ACCESS_CLIENT_SECRET',
      value: credential.clientSecret,
    })
  );
}

describe('workers secret store', () => {
  it('binds both values to the script and reads back that both are present', async () => {
    const credential = randomCredential();
    const target = store();

    const receipt = await target.write(credential);

    expect(target.label).toBe(`workers-secret:${sim.demo.accountId}/demo-worker`);
    expect(holds(credential)).toBe(true);
    expect(receipt).toEqual({
      store: target.label,
      fingerprint: fingerprintCredential(credential),
      changed: true,
      expected: { evidence: 'presence', present: true },
    });
    expect(readBackConfirms(receipt, await target.readBack())).toBe(true);
  });

  it('reads back absent before anything was written', async () => {
    expect(await store().readBack()).toEqual({ evidence: 'presence', present: false });
  });

  it('writes the same credential again with the same result, and restores the previous one', async () => {
    const previous = randomCredential();
    const next = randomCredential();
    const target = store();
    await target.write(previous);
    await target.write(next);
    await target.write(next);
    expect(holds(next)).toBe(true);

    await target.restore(previous);

    expect(holds(previous)).toBe(true);
  });

  it('writes to a script in a dispatch namespace', async () => {
    const { namespace, name } = sim.demo.dispatchScript;
    const credential = randomCredential();
    const target = store({ script: name, dispatchNamespace: namespace });

    await target.write(credential);

    expect(target.label).toBe(`workers-secret:${sim.demo.accountId}/${namespace}/${name}`);
    expect(holds(credential, { scriptName: name, dispatchNamespace: namespace })).toBe(true);
    expect(await target.readBack()).toEqual({ evidence: 'presence', present: true });
  });

  it('keeps the secret out of a failed write’s error and marks a 5xx retryable', async () => {
    sim.simulator.faults.add({ match: { operationId: 'worker-put-script-secret' }, status: 503 });
    const credential = randomCredential();

    const error = await store()
      .write(credential)
      .catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(StoreError);
    expect(error).toMatchObject({ status: 503, retryable: true, operation: 'write' });
    expectNoSecretIn(error, credential);
  });

  it('fails without retrying for a script that does not exist', async () => {
    const credential = randomCredential();
    const error = await store({ script: 'no-such-worker' })
      .write(credential)
      .catch((caught: unknown) => caught);
    expect(error).toMatchObject({ name: 'StoreError', status: 404, retryable: false });
    expectNoSecretIn(error, credential);
  });

  it('is built by the registry for the token’s account when the target names none', async () => {
    const target = propagationTargetSchema.parse({ kind: 'workers-secret', script: 'demo-worker' });
    const accounts: string[] = [];
    const deps = {
      env: {},
      cloudflare: (accountId: string) => {
        accounts.push(accountId);
        return sim.client;
      },
    };
    const credential = randomCredential();

    await createStore(target, deps, { accountId: sim.demo.accountId }).write(credential);

    expect(accounts).toEqual([sim.demo.accountId]);
    expect(holds(credential)).toBe(true);
    expect(() => createStore(target, deps)).toThrow(
      expect.objectContaining({ name: 'StoreError', operation: 'configure' }),
    );
  });
});

describe('workers secret store: Cloudflare requests', () => {
  const PUT = 'worker-put-script-secret';
  const LIST = 'worker-list-script-secrets';
  const ok = (n: number) => ({ '200': n });

  /** A credential as rotate-secret issues it: the same client id, a new secret. */
  const rotated = (previous: ServiceTokenCredential): ServiceTokenCredential => ({
    clientId: previous.clientId,
    clientSecret: randomCredential().clientSecret,
  });

  it('writes a new script’s two bindings with two PUTs and reads them back with one list', async () => {
    const credential = randomCredential();
    const target = store();

    const receipt = await target.write(credential);
    expect(sim.simulator.calls.counts()).toEqual({ [PUT]: ok(2) });
    expect(readBackConfirms(receipt, await target.readBack())).toBe(true);

    expect(sim.simulator.calls.counts()).toEqual({ [PUT]: ok(2), [LIST]: ok(1) });
    expect(holds(credential)).toBe(true);
  });

  it('sends one PUT and one list for a rotate-secret credential whose client id is unchanged', async () => {
    const previous = randomCredential();
    const target = store();
    await target.write(previous);
    sim.simulator.calls.reset();
    const next = rotated(previous);

    const receipt = await target.write(next, { clientIdUnchanged: true });
    const confirmed = readBackConfirms(receipt, await target.readBack());

    expect(sim.simulator.calls.counts()).toEqual({ [PUT]: ok(1), [LIST]: ok(1) });
    expect(confirmed).toBe(true);
    expect(holds(next)).toBe(true);
  });

  it('writes the client id too for a replace credential (a new client id)', async () => {
    const target = store();
    await target.write(randomCredential());
    sim.simulator.calls.reset();
    const next = randomCredential();

    const receipt = await target.write(next, { clientIdUnchanged: false });
    const confirmed = readBackConfirms(receipt, await target.readBack());

    expect(sim.simulator.calls.counts()).toEqual({ [PUT]: ok(2), [LIST]: ok(1) });
    expect(confirmed).toBe(true);
    expect(holds(next)).toBe(true);
  });

  it('reads back absent when the id binding was deleted and the hint skipped it; a write without the hint restores it', async () => {
    const previous = randomCredential();
    const target = store();
    await target.write(previous);
    sim.simulator.state.workers.deleteSecret(
      { accountId: sim.demo.accountId, namespace: null, name: sim.demo.workerScript.name },
      'CF_ACCESS_CLIENT_ID',
    );
    const next = rotated(previous);

    const hinted = await target.write(next, { clientIdUnchanged: true });
    expect(readBackConfirms(hinted, await target.readBack())).toBe(false);

    sim.simulator.calls.reset();
    const full = await target.write(next);
    expect(readBackConfirms(full, await target.readBack())).toBe(true);
    expect(sim.simulator.calls.counts()).toEqual({ [PUT]: ok(2), [LIST]: ok(1) });
    expect(holds(next)).toBe(true);
  });

  it('sends one PUT and one list to a dispatch-namespace script for a rotate-secret credential', async () => {
    const { namespace, name } = sim.demo.dispatchScript;
    const target = store({ script: name, dispatchNamespace: namespace });
    const previous = randomCredential();
    await target.write(previous);
    sim.simulator.calls.reset();
    const next = rotated(previous);

    const receipt = await target.write(next, { clientIdUnchanged: true });
    const confirmed = readBackConfirms(receipt, await target.readBack());

    expect(sim.simulator.calls.counts()).toEqual({
      'namespace-worker-put-script-secrets': ok(1),
      'namespace-worker-list-script-secrets': ok(1),
    });
    expect(confirmed).toBe(true);
    expect(holds(next, { scriptName: name, dispatchNamespace: namespace })).toBe(true);
  });
});
