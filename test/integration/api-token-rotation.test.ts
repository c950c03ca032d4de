import type { WorkflowHandle } from '@temporalio/client';
import { apiTokenRotationWorkflowId, findApiToken } from '../../src/inventory';
import { startApiTokenFixture, type ApiTokenFixture } from '../support/api-token-fixture';

describe('API-token rotation through the API, on the real stack', () => {
  let f: ApiTokenFixture;

  beforeAll(async () => {
    f = await startApiTokenFixture([
      { name: 'deploy-bot', kind: 'account' },
      { name: 'ops-user', kind: 'user' },
      { name: 'lost-create', kind: 'account', stores: 'file' },
      { name: 'lost-roll', kind: 'account', strategy: 'roll', stores: 'file' },
    ]);
  });
  afterAll(async () => f?.close());
  afterEach(() => f.stack.sim.faults.clear());

  const workflowId = (name: string) => apiTokenRotationWorkflowId(findApiToken(f.stack.inventory, f.accountId, name)!);

  /** A consumer reading its token from the file store and calling Cloudflare with it, until the run ends. */
  function consumer(name: string, handle: () => WorkflowHandle) {
    const failures: number[] = [];
    let calls = 0;
    const done = (async () => {
      const deadline = Date.now() + 90_000;
      while (Date.now() < deadline) {
        const status = await f.verify(name, f.fileValue(name));
        calls++;
        if (status !== 200) failures.push(status);
        if ((await handle().describe()).status.name !== 'RUNNING') return;
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    return { failures, calls: () => calls, done };
  }

  async function rotateThroughApi(name: string) {
    const app = await f.stack.app();
    const response = await app.inject({
      method: 'POST',
      url: `/api-tokens/${name}/rotate`,
      headers: f.stack.auth,
      payload: { reason: 'quarterly' },
    });
    expect(response.statusCode).toBe(202);
    expect(response.json().data.workflow_id).toBe(workflowId(name));
    return response;
  }

  it.each([
    ['an account-owned', 'deploy-bot'],
    ['a user', 'ops-user'],
  ])(
    'gives %s token a successor with the same policies; consumers never fail; the old token is gone',
    async (_, name) => {
      const old = f.tokens[name]!;
      const oldShape = f.shape(old.id)!;
      await rotateThroughApi(name);
      const watching = consumer(name, () => f.stack.client.workflow.getHandle(workflowId(name)));
      const result = await f.waitFor(workflowId(name));
      await watching.done;

      expect(result).toMatchObject({ status: 'completed', strategy: 'successor', emergency: false });
      expect(result.tokenId).not.toBe(old.id);
      // Every store holds the successor; Cloudflare accepts it; the old token no longer exists.
      const value = f.fileValue(name);
      expect(value).not.toBe(old.value);
      expect(f.fileTokenId(name)).toBe(result.tokenId);
      expect(f.k8s.value('apps', name, 'CLOUDFLARE_API_TOKEN')).toBe(value);
      expect(f.k8s.value('apps', name, 'CLOUDFLARE_API_TOKEN_ID')).toBe(result.tokenId);
      expect(await f.verify(name, value)).toBe(200);
      expect(await f.verify(name, old.value)).not.toBe(200);
      expect(f.stack.sim.state.apiTokens.get(old.id)).toBeUndefined();
      // The successor has exactly the old one's policies and condition, and a fresh expiry.
      expect(f.shape(result.tokenId)).toEqual(oldShape);
      const expires = Date.parse(f.stack.sim.state.apiTokens.get(result.tokenId)!.expires_on!);
      expect(expires).toBeGreaterThan(Date.now() + 80 * 86_400_000);
      // A consumer probing with what the store holds never failed.
      expect(watching.calls()).toBeGreaterThan(3);
      expect(watching.failures).toEqual([]);

      const app = await f.stack.app();
      const rotations = (
        await app.inject({ method: 'GET', url: `/rotations?token=${name}&kind=api-token`, headers: f.stack.auth })
      ).json();
      expect(rotations.data.rotations[0]).toMatchObject({ token: name, kind: 'api-token', status: 'completed' });
      expect(rotations.data.rotations[0].steps.map((s: { step: string }) => s.step)).toEqual([
        'resolve',
        'issue',
        'propagate',
        'verify',
        'wait',
        'retire',
        'finish',
      ]);
      expect(JSON.stringify(rotations)).not.toContain(value);
    },
  );

  it('answers a dry run with the plan and changes nothing; unknown tokens are 404, bad names 4xx, a running one 409', async () => {
    const app = await f.stack.app();
    const before = f.fileValue('lost-create');
    const plan = await app.inject({
      method: 'POST',
      url: '/api-tokens/lost-create/rotate?dry_run=true',
      headers: f.stack.auth,
    });
    expect(plan.statusCode).toBe(200);
    expect(plan.json().data).toMatchObject({ dry_run: true, strategy: 'successor', kind: 'account' });
    expect(f.fileValue('lost-create')).toBe(before);
    const unknown = await app.inject({ method: 'POST', url: '/api-tokens/nope/rotate', headers: f.stack.auth });
    expect(unknown.statusCode).toBe(404);
    const bad = await app.inject({ method: 'POST', url: '/api-tokens/BAD%00/rotate', headers: f.stack.auth });
    expect(bad.statusCode).toBeGreaterThanOrEqual(400);
    expect(bad.statusCode).toBeLessThan(500);
    // A second request while a rotation runs is refused with the running run's id.
    const first = await app.inject({ method: 'POST', url: '/api-tokens/deploy-bot/rotate', headers: f.stack.auth });
    const second = await app.inject({ method: 'POST', url: '/api-tokens/deploy-bot/rotate', headers: f.stack.auth });
    expect(first.statusCode).toBe(202);
    expect(second.statusCode).toBe(409);
    expect(second.json().error.run_id).toBe(first.json().data.run_id);
    await f.waitFor(workflowId('deploy-bot'));
  });

  it('revokes in an emergency: the old value dies before anything else, a successor is propagated', async () => {
    const name = 'ops-user';
    const compromised = f.fileValue(name);
    const oldId = f.fileTokenId(name);
    const app = await f.stack.app();
    const response = await app.inject({
      method: 'POST',
      url: `/api-tokens/${name}/revoke`,
      headers: f.stack.auth,
      payload: { reason: 'leaked in a CI log' },
    });
    expect(response.statusCode).toBe(202);
    const result = await f.waitFor(workflowId(name));
    expect(result).toMatchObject({ status: 'completed', strategy: 'successor', emergency: true });
    expect(await f.verify(name, compromised)).not.toBe(200);
    expect(f.stack.sim.state.apiTokens.get(oldId)).toBeUndefined();
    expect(await f.verify(name, f.fileValue(name))).toBe(200);
    const [row] = await f.stack.rotations.listRotations({ tokenName: name, kind: 'api-token', limit: 1 });
    expect(row!.mode).toBe('emergency');
    expect(row!.steps.map((s) => s.step).slice(0, 3)).toEqual(['resolve', 'kill', 'issue']);
    // The kill was a roll: the compromised value died without waiting for a successor.
    expect(f.stack.sim.calls.count('user-api-tokens-roll-token')).toBeGreaterThanOrEqual(1);
  });

  it('recovers a create whose answer was lost: the orphan it left is deleted, never kept', async () => {
    const name = 'lost-create';
    const old = f.tokens[name]!;
    f.stack.sim.faults.set({
      match: { operationId: 'account-api-tokens-create-token' },
      applyThenDrop: true,
      times: 1,
    });
    await rotateThroughApi(name);
    const result = await f.waitFor(workflowId(name));
    expect(result).toMatchObject({ status: 'completed', strategy: 'successor' });
    expect(f.stack.sim.calls.count('account-api-tokens-create-token', 'dropped')).toBe(1);
    const successor = f.stack.sim.state.apiTokens.get(result.tokenId)!;
    const namesakes = f.stack.sim.state.apiTokens.list({ kind: 'account', accountId: f.accountId });
    expect(namesakes.filter((t) => t.name === successor.name).map((t) => t.id)).toEqual([result.tokenId]);
    expect(f.stack.sim.state.apiTokens.get(old.id)).toBeUndefined();
    expect(await f.verify(name, f.fileValue(name))).toBe(200);
    const [row] = await f.stack.rotations.listRotations({ tokenName: name, kind: 'api-token', limit: 1 });
    const issue = row!.steps.find((s) => s.step === 'issue' && s.outcome === 'ok');
    expect((issue?.details?.orphansDeleted as string[]).length).toBe(1);
  });

  it('recovers a roll whose answer was lost (old value dead, new unseen) with a successor', async () => {
    const name = 'lost-roll';
    const old = f.tokens[name]!;
    f.stack.sim.faults.set({ match: { operationId: 'account-api-tokens-roll-token' }, applyThenDrop: true, times: 1 });
    await rotateThroughApi(name);
    const result = await f.waitFor(workflowId(name));
    expect(result).toMatchObject({ status: 'completed', strategy: 'successor', recoveredLostSecret: true });
    expect(f.stack.sim.calls.count('account-api-tokens-roll-token', 'dropped')).toBe(1);
    expect(result.tokenId).not.toBe(old.id);
    expect(f.stack.sim.state.apiTokens.get(old.id)).toBeUndefined();
    expect(await f.verify(name, f.fileValue(name))).toBe(200);
    const [row] = await f.stack.rotations.listRotations({ tokenName: name, kind: 'api-token', limit: 1 });
    expect(row!.steps.map((s) => `${s.step}:${s.outcome}`).slice(0, 3)).toEqual([
      'resolve:ok',
      'issue:failed',
      'issue:ok',
    ]);
  });
});
