import { z } from 'zod';
import { createAccessPolicyActivities, type PolicyIndex, type PolicyLock } from '../../src/activities/access-policies';
import { createCloudflareClient } from '../../src/cloudflare/client';
import { startSimulator, type RunningSimulator } from '@token-warden/cloudflare-simulator';
import { createInMemoryPolicyIndex, createPostgresPolicyIndex } from '../../src/db/access-policy-index';
import { createAdvisoryLock } from '../../src/db/advisory-lock';
import { createPool } from '../../src/db/pool';
import { createTestDatabase, type TestDatabase } from '../support/database';

const serviceTokenRule = z.object({ service_token: z.object({ token_id: z.string() }) });

/**
 * Found by the chaos run: two rotations binding (or unbinding) tokens named by one Access policy
 * at the same time each wrote back the rule list they had read, and the later write dropped the
 * earlier one's token. Its consumers were refused until the next rotation of that token.
 */
describe('Access policy edits of concurrent rotations', () => {
  let sim: RunningSimulator;
  let db: TestDatabase;

  beforeAll(async () => {
    sim = await startSimulator({ port: 0, seed: 'demo' });
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await sim?.close();
    await db?.drop();
  });

  /** One process's policy index, built after the test's policy exists (as a scan would find it). */
  const processIndex = (): [PolicyIndex, PolicyIndex] => {
    const index = createInMemoryPolicyIndex();
    return [index, index];
  };

  /** A policy naming two tokens; both get a successor bound beside them at once. */
  async function bindConcurrently(
    locks: [PolicyLock | undefined, PolicyLock | undefined],
    indexes: [PolicyIndex, PolicyIndex] = processIndex(),
  ): Promise<{ named: string[]; expected: string[] }> {
    const accountId = sim.demo!.accountId;
    const token = (n: string) =>
      sim.state.createServiceToken({ accountId, name: `race-${n}-${Math.random().toString(36).slice(2, 8)}` }).id;
    const [a, b, a2, b2] = [token('a'), token('b'), token('a2'), token('b2')];
    const policy = sim.state.createAccessPolicy({
      accountId,
      name: `race ${a}`,
      decision: 'non_identity',
      include: [{ service_token: { token_id: a } }, { service_token: { token_id: b } }],
    });
    const wardenClient = (purpose: 'reads' | 'mutations') =>
      createCloudflareClient({ apiToken: sim.demo!.apiTokens.warden.value!, baseURL: sim.baseURL, purpose });
    // Slow reads widen the window between each edit's read and its write.
    const slow = sim.faults.add({ match: { method: 'GET', path: '/accounts/:account/access/**' }, latencyMs: 150 });
    try {
      await Promise.all([
        createAccessPolicyActivities({
          wardenClient,
          policyLock: locks[0],
          policyIndex: indexes[0],
        }).bindTokenToPolicies({ accountId, besideTokenId: a, newTokenId: a2 }),
        createAccessPolicyActivities({
          wardenClient,
          policyLock: locks[1],
          policyIndex: indexes[1],
        }).bindTokenToPolicies({ accountId, besideTokenId: b, newTokenId: b2 }),
      ]);
    } finally {
      sim.faults.remove(slow);
    }
    const record = sim.state.store.data.accessPolicies[policy.id]!;
    const named = record.include.map((rule) => serviceTokenRule.parse(rule).service_token.token_id);
    return { named: named.sort(), expected: [a, b, a2, b2].sort() };
  }

  it('loses one of two simultaneous binds when nothing serialises them (why the lock exists)', async () => {
    const none: PolicyLock = (_key, work) => work();
    const { named, expected } = await bindConcurrently([none, none]);
    expect(named).not.toEqual(expected);
  });

  it('keeps both binds within one worker process (the default lock)', async () => {
    const { named, expected } = await bindConcurrently([undefined, undefined]);
    expect(named).toEqual(expected);
  });

  it('keeps both binds across two worker processes sharing Postgres (the advisory lock)', async () => {
    // Two pools stand for two workers of a fleet: the in-process lock cannot see across them.
    const pools = [createPool(db.url), createPool(db.url)];
    try {
      const { named, expected } = await bindConcurrently(
        [createAdvisoryLock(pools[0]!), createAdvisoryLock(pools[1]!)],
        [createInMemoryPolicyIndex(), createInMemoryPolicyIndex()],
      );
      expect(named).toEqual(expected);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it('keeps both binds across two worker processes sharing Postgres for the lock and the policy index', async () => {
    const pools = [createPool(db.url), createPool(db.url)];
    try {
      const { named, expected } = await bindConcurrently(
        [createAdvisoryLock(pools[0]!), createAdvisoryLock(pools[1]!)],
        [createPostgresPolicyIndex(pools[0]!, { pollMs: 20 }), createPostgresPolicyIndex(pools[1]!, { pollMs: 20 })],
      );
      expect(named).toEqual(expected);
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });
});
