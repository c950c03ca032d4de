import { MockActivityEnvironment } from '@temporalio/testing';
import { heartbeatWhileRunning } from '../../src/activities/heartbeat';
import { createServiceTokenActivities } from '../../src/activities/service-tokens';
import { createCloudflareClient } from '../../src/cloudflare/client';
import { startSimulator, type RunningSimulator } from '@token-warden/cloudflare-simulator';
import { fingerprintCredential } from '../../src/stores';

/** What the chaos suite found in the service-token activities, against the simulator. */
describe('service-token activities: findings of the chaos suite', () => {
  let sim: RunningSimulator;
  beforeAll(async () => {
    sim = await startSimulator({ port: 0, seed: 'demo' });
  });
  afterAll(async () => sim?.close());

  function activities() {
    const accountId = sim.demo!.accountId;
    const staged = new Map<string, { clientId: string; clientSecret: string }>();
    const deps = {
      inventory: {
        accounts: [
          {
            id: accountId,
            apiTokens: [],
            serviceTokens: [
              {
                name: 'api',
                strategy: 'replace' as const,
                overlap: '1h',
                duration: '8760h',
                renewBefore: '720h',
                renewAction: 'rotate' as const,
                propagationWait: '30s',
                targets: [],
              },
            ],
          },
        ],
      },
      wardenClient: (purpose: 'reads' | 'mutations') =>
        createCloudflareClient({ apiToken: sim.demo!.apiTokens.warden.value!, baseURL: sim.baseURL, purpose }),
      pending: {
        find: async (ref: string) =>
          staged.has(ref)
            ? {
                ref,
                fingerprint: fingerprintCredential(staged.get(ref)!),
                stage: 'pending' as const,
                accountId,
                tokenName: 'api',
              }
            : undefined,
        stagePending: async (_token: unknown, ref: string, credential: { clientId: string; clientSecret: string }) => {
          staged.set(ref, credential);
          return { ref, fingerprint: fingerprintCredential(credential), stage: 'pending' as const };
        },
        open: async (ref: string) => staged.get(ref)!,
      },
    };
    return { accountId, service: createServiceTokenActivities(deps) };
  }

  it('heartbeats while an activity runs, so a worker killed under it is noticed in seconds', async () => {
    // Every SIGKILL of the worker stalled each rotation it was running for the whole
    // start-to-close timeout of the activity in hand (up to a minute).
    const env = new MockActivityEnvironment({}, { interceptors: [heartbeatWhileRunning] });
    let beats = 0;
    env.on('heartbeat', () => {
      beats += 1;
    });
    await env.run(async () => new Promise((resolve) => setTimeout(resolve, 4_500)));
    const after = beats;
    await new Promise((resolve) => setTimeout(resolve, 2_500));
    expect(after).toBeGreaterThanOrEqual(2);
    expect(beats).toBe(after); // and stops with the activity
  });

  it('resolves the oldest token of a name and reports the others as strays', async () => {
    const { accountId, service } = activities();
    const old = sim.state.createServiceToken({ accountId, name: 'api' });
    sim.clock.advance(1_000);
    const stray = sim.state.createServiceToken({ accountId, name: 'api' });
    const resolved = await new MockActivityEnvironment().run(service.resolveServiceToken, {
      accountId,
      tokenName: 'api',
    });
    expect(resolved).toMatchObject({ tokenId: old.id, strays: [stray.id] });
    for (const id of [old.id, stray.id]) sim.state.serviceTokens.delete({ kind: 'account', accountId }, id);
  });

  it('never takes a stray an earlier run kept valid for the orphan of a lost create', async () => {
    // A replace that could not restore every store kept its new token (a stray a store still
    // holds). The next run's create lost its answer; the retry cleans up tokens of this name
    // created since shortly before the run, which must not include that stray.
    const { accountId, service } = activities();
    const old = sim.state.createServiceToken({ accountId, name: 'api' });
    const stray = sim.state.createServiceToken({ accountId, name: 'api' });
    const notBefore = new Date(sim.clock.now() - 60_000).toISOString();
    const retry = new MockActivityEnvironment({ attempt: 2 });
    const issued = await retry.run(service.createReplacementToken, {
      accountId,
      tokenName: 'api',
      oldTokenId: old.id,
      strays: [stray.id],
      ref: 'ref-1',
      notBefore,
      duration: '8760h',
    });
    expect(issued).toMatchObject({ ref: 'ref-1' });
    expect(sim.state.getServiceToken(stray.id)).toBeDefined();
    expect(sim.state.getServiceToken(old.id)).toBeDefined();
    expect(sim.state.serviceTokens.list({ kind: 'account', accountId }).filter((t) => t.name === 'api')).toHaveLength(
      3,
    );
  });
});
