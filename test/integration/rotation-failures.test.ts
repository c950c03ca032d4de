import { WorkflowFailedError } from '@temporalio/client';
import { startRotationFixture, type RotationFixture } from '../support/rotation-fixture';

describe('rotation under Cloudflare and store failures, on the real stack', () => {
  let f: RotationFixture;

  beforeAll(async () => {
    f = await startRotationFixture([
      { name: 'lost-answer', strategy: 'rotate-secret', stores: 'file' },
      { name: 'broken-store', strategy: 'replace' },
    ]);
  });
  afterAll(async () => f?.close());
  afterEach(() => f.stack.sim.faults.clear());

  it('finishes blue/green when Cloudflare applied a rotate but its answer was lost, never cutting the stores off', async () => {
    const old = f.tokens['lost-answer']!;
    f.stack.sim.faults.set([
      { match: { operationId: 'access-service-tokens-rotate-a-service-token' }, applyThenDrop: true, times: 1 },
    ]);
    const handle = await f.startRotation('lost-answer');
    // While the run recovers, the credential the stores hold keeps working.
    let storeFailures = 0;
    const watching = (async () => {
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline) {
        const status = await f.probe(f.fileCredential('lost-answer'));
        if (status !== 200) storeFailures++;
        const { status: run } = await handle.describe();
        if (run.name !== 'RUNNING') return;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const result = await handle.result();
    await watching;
    expect(result).toMatchObject({ status: 'completed', strategy: 'replace', recoveredLostSecret: true });
    expect(storeFailures).toBe(0);
    expect(f.stack.sim.calls.count('access-service-tokens-rotate-a-service-token', 'dropped')).toBe(1);
    expect(f.stack.sim.state.getServiceToken(old.id)).toBeUndefined(); // the token with the unseen secret is gone
    const now = f.fileCredential('lost-answer');
    expect(now.clientId).toBe(result.clientId);
    expect(await f.probe(now)).toBe(200);
    const [row] = await f.stack.rotations.listRotations({ tokenName: 'lost-answer', limit: 1 });
    expect(row?.steps.map((s) => `${s.step}:${s.outcome}`)).toEqual([
      'resolve:ok',
      'issue:failed',
      'extend previous secret:ok',
      'issue:ok',
      'bind:ok',
      'propagate:ok',
      'verify:ok',
      'wait:ok',
      'retire:ok',
      'finish:ok',
    ]);
  });

  it('compensates a replace whose store refuses the write: stores restored, new token unbound and deleted', async () => {
    const old = f.tokens['broken-store']!;
    const before = f.stack.sim.state.policiesNamingServiceToken(f.accountId, old.id);
    f.k8s.failNext('PUT', 422, { times: 1 });
    const handle = await f.startRotation('broken-store');
    await expect(handle.result()).rejects.toBeInstanceOf(WorkflowFailedError);
    const [row] = await f.stack.rotations.listRotations({ tokenName: 'broken-store', limit: 1 });
    expect(row?.status).toBe('compensated');
    const issued = row?.steps.find((s) => s.step === 'issue')?.details as { tokenId: string };
    expect(f.stack.sim.state.getServiceToken(issued.tokenId)).toBeUndefined();
    expect(f.stack.sim.state.policiesNamingServiceToken(f.accountId, old.id)).toEqual(before);
    // Every store holds the old credential again, and it still works.
    expect(f.fileCredential('broken-store')).toEqual({ clientId: old.clientId, clientSecret: old.clientSecret });
    expect(f.k8s.value('apps', 'broken-store-access', 'CF_ACCESS_CLIENT_SECRET')).toBe(old.clientSecret);
    expect(await f.probe({ clientId: old.clientId, clientSecret: old.clientSecret })).toBe(200);
    expect(row?.steps.at(-1)).toMatchObject({ step: 'compensate', outcome: 'compensated' });
  });
});
