import { MockActivityEnvironment } from '@temporalio/testing';
import { createServiceTokenActivities } from '../../src/activities/service-tokens';
import { createCloudflareClient } from '../../src/cloudflare/client';
import { startSimulator, type RunningSimulator } from '@token-warden/cloudflare-simulator';
import { fingerprintCredential, type ServiceTokenCredential } from '../../src/stores';

/** The first activity of an emergency revoke: resolve and rotate, the old secret dying now. */
describe('revokeServiceTokenSecret against the simulator', () => {
  let sim: RunningSimulator;
  let accountId: string;
  let probeUrl: string;
  let appId: string;
  beforeAll(async () => {
    sim = await startSimulator({ port: 0, seed: 'demo' });
    accountId = sim.demo!.accountId;
    appId = sim.state.createAccessApp({ accountId, name: 'app', domain: 'app.example' }).id;
    probeUrl = sim.probeUrl(appId);
  });
  afterAll(async () => sim?.close());

  function setup(zoneId?: string, knownId?: () => Promise<string | null>) {
    const staged = new Map<string, ServiceTokenCredential>();
    const token = {
      name: 'api',
      strategy: 'rotate-secret' as const,
      overlap: '1h',
      duration: '8760h',
      renewBefore: '720h',
      renewAction: 'rotate' as const,
      propagationWait: '30s',
      targets: [],
      ...(zoneId ? { zoneId } : {}),
    };
    const service = createServiceTokenActivities({
      inventory: { accounts: [{ id: accountId, apiTokens: [], serviceTokens: [token] }] },
      wardenClient: (purpose) =>
        createCloudflareClient({ apiToken: sim.demo!.apiTokens.warden.value!, baseURL: sim.baseURL, purpose }),
      pending: {
        find: async (ref) =>
          staged.has(ref)
            ? {
                ref,
                fingerprint: fingerprintCredential(staged.get(ref)!),
                stage: 'pending' as const,
                accountId,
                tokenName: 'api',
              }
            : undefined,
        stagePending: async (_token, ref, credential) => {
          staged.set(ref, credential);
          return { ref, fingerprint: fingerprintCredential(credential), stage: 'pending' as const };
        },
        open: async (ref) => staged.get(ref)!,
      },
      ...(knownId ? { discovered: { serviceTokenIdByName: knownId } } : {}),
    });
    const old = sim.state.createServiceToken({ accountId, name: 'api' });
    sim.state.createAccessPolicy({
      accountId,
      name: `api ${old.id}`,
      decision: 'non_identity',
      include: [{ service_token: { token_id: old.id } }],
      attachTo: [appId],
    });
    const probe = async (credential: ServiceTokenCredential) => {
      const response = await fetch(probeUrl, {
        headers: { 'CF-Access-Client-Id': credential.clientId, 'CF-Access-Client-Secret': credential.clientSecret },
      });
      await response.body?.cancel();
      return response.status;
    };
    const cleanup = () => sim.state.serviceTokens.delete({ kind: 'account', accountId }, old.id);
    return { service, old, staged, probe, cleanup };
  }

  it('kills the compromised secret in the call that issues its successor', async () => {
    const { service, old, staged, probe, cleanup } = setup();
    const compromised = { clientId: old.clientId, clientSecret: old.clientSecret };
    expect(await probe(compromised)).toBe(200);

    const killed = await new MockActivityEnvironment().run(service.revokeServiceTokenSecret, {
      accountId,
      tokenName: 'api',
      ref: 'ref-1',
    });

    expect(killed).toMatchObject({
      resolved: { tokenId: old.id },
      issued: { ref: 'ref-1', tokenId: old.id, clientId: old.clientId },
    });
    expect(await probe(compromised)).toBe(403);
    expect(await probe(staged.get('ref-1')!)).toBe(200);
    cleanup();
  });

  it('rotates again after a lost answer: the compromised secret stays dead and the staged one works', async () => {
    const { service, old, staged, probe, cleanup } = setup();
    const compromised = { clientId: old.clientId, clientSecret: old.clientSecret };
    sim.faults.add({
      match: { operationId: 'access-service-tokens-rotate-a-service-token' },
      applyThenDrop: true,
      times: 1,
    });

    await expect(
      new MockActivityEnvironment().run(service.revokeServiceTokenSecret, {
        accountId,
        tokenName: 'api',
        ref: 'ref-2',
      }),
    ).rejects.toThrow();
    expect(await probe(compromised)).toBe(403); // applied: dead, though nobody saw the answer
    const retried = await new MockActivityEnvironment({ attempt: 2 }).run(service.revokeServiceTokenSecret, {
      accountId,
      tokenName: 'api',
      ref: 'ref-2',
    });

    expect(retried).toMatchObject({ issued: { ref: 'ref-2' } });
    expect(await probe(compromised)).toBe(403);
    expect(await probe(staged.get('ref-2')!)).toBe(200);
    cleanup();
  });

  it('answers null for a zone-scoped token, which has no rotate endpoint, without calling Cloudflare', async () => {
    const { service, cleanup } = setup('zone-1');
    const before = sim.calls.total();
    expect(
      await new MockActivityEnvironment().run(service.revokeServiceTokenSecret, {
        accountId,
        tokenName: 'api',
        ref: 'ref-3',
      }),
    ).toBeNull();
    expect(sim.calls.total()).toBe(before);
    cleanup();
  });

  /** The operations the simulator saw, in order, while `work` ran. */
  async function operationsDuring(work: () => Promise<unknown>): Promise<string[]> {
    const seen: string[] = [];
    const stop = sim.calls.onRequest((event) => seen.push(event.operationId));
    try {
      await work();
    } finally {
      stop();
    }
    return seen;
  }

  it('rotates the id discovery recorded before any list, and reports what resolve would have read', async () => {
    const recorded = { id: '' };
    const { service, staged, probe, cleanup, old: created } = setup(undefined, async () => recorded.id);
    recorded.id = created.id;
    const compromised = { clientId: created.clientId, clientSecret: created.clientSecret };

    let killed;
    const operations = await operationsDuring(async () => {
      killed = await new MockActivityEnvironment().run(service.revokeServiceTokenSecret, {
        accountId,
        tokenName: 'api',
        ref: 'ref-4',
      });
    });

    expect(operations).toEqual([
      'access-service-tokens-rotate-a-service-token',
      'access-service-tokens-list-service-tokens',
    ]);
    expect(killed).toEqual({
      resolved: expect.objectContaining({
        tokenId: created.id,
        clientId: created.clientId,
        secretVersion: 1,
        strays: [],
      }),
      issued: expect.objectContaining({
        ref: 'ref-4',
        tokenId: created.id,
        clientId: created.clientId,
        secretVersion: 2,
      }),
    });
    expect(await probe(compromised)).toBe(403);
    expect(await probe(staged.get('ref-4')!)).toBe(200);
    cleanup();
  });

  it('lists first when the recorded id is gone from Cloudflare, or the records cannot be read', async () => {
    for (const [ref, knownId] of [
      ['ref-5', async () => '00000000-0000-4000-8000-000000000000'],
      [
        'ref-6',
        async () => {
          throw new Error('Postgres is down');
        },
      ],
    ] as const) {
      const { service, old, staged, probe, cleanup } = setup(undefined, knownId);
      let killed;
      const operations = await operationsDuring(async () => {
        killed = await new MockActivityEnvironment().run(service.revokeServiceTokenSecret, {
          accountId,
          tokenName: 'api',
          ref,
        });
      });
      expect(operations.slice(-2)).toEqual([
        'access-service-tokens-list-service-tokens',
        'access-service-tokens-rotate-a-service-token',
      ]);
      expect(killed).toMatchObject({ resolved: { tokenId: old.id }, issued: { ref, tokenId: old.id } });
      expect(await probe({ clientId: old.clientId, clientSecret: old.clientSecret })).toBe(403);
      expect(await probe(staged.get(ref)!)).toBe(200);
      cleanup();
    }
  });
});
