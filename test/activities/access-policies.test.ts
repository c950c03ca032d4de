import { randomBytes } from 'node:crypto';
import { createAccessPolicyActivities, type AccessPolicyDeps } from '../../src/activities/access-policies';
import { createCloudflareClient } from '../../src/cloudflare/client';
import {
  startSimulator,
  WARDEN_ACCOUNT_PERMISSIONS,
  WARDEN_USER_PERMISSIONS,
  type RunningSimulator,
} from '@token-warden/cloudflare-simulator';
import { createPostgresPolicyIndex } from '../../src/db/access-policy-index';
import { createAdvisoryLock } from '../../src/db/advisory-lock';
import { createPool } from '../../src/db/pool';
import { createTestDatabase, type TestDatabase } from '../support/database';

const APPS = 20;

const OPS = {
  reusableList: 'access-policies-list-access-reusable-policies',
  appList: 'access-applications-list-access-applications',
  appPolicyList: 'access-policies-list-access-app-policies',
  reusableGet: 'access-policies-get-an-access-reusable-policy',
  appPolicyGet: 'access-policies-get-an-access-policy',
  reusablePut: 'access-policies-update-an-access-reusable-policy',
  appPolicyPut: 'access-policies-update-an-access-policy',
} as const;

let sim: RunningSimulator;
let db: TestDatabase;

beforeAll(async () => {
  sim = await startSimulator({ port: 0, seed: 'none' });
  db = await createTestDatabase();
});
afterAll(async () => {
  await sim?.close();
  await db?.drop();
});
afterEach(() => sim.faults.clear());

interface Cost {
  lists: number;
  gets: number;
  puts: number;
  /** Every API request, Access or not. */
  total: number;
}

/** The Cloudflare requests `work` sent, by kind. */
async function cost(work: () => Promise<unknown>): Promise<Cost> {
  sim.calls.reset();
  await work();
  const n = (...ops: string[]) => ops.reduce((sum, op) => sum + sim.calls.count(op), 0);
  return {
    lists: n(OPS.reusableList, OPS.appList, OPS.appPolicyList),
    gets: n(OPS.reusableGet, OPS.appPolicyGet),
    puts: n(OPS.reusablePut, OPS.appPolicyPut),
    total: sim.calls.total(),
  };
}

/** What a full scan of a world costs: the reusable list, the apps list, each app's policy list. */
const SCAN: Cost = { lists: 2 + APPS, gets: 0, puts: 0, total: 2 + APPS };
const plus = (a: Cost, b: Partial<Cost>): Cost => ({
  lists: a.lists + (b.lists ?? 0),
  gets: a.gets + (b.gets ?? 0),
  puts: a.puts + (b.puts ?? 0),
  total: a.total + (b.gets ?? 0) + (b.puts ?? 0) + (b.lists ?? 0),
});
const edits = (gets: number, puts: number): Cost => ({ lists: 0, gets, puts, total: gets + puts });

/**
 * An account of its own with 20 apps and 40 policies: app i uses reusable policy i and its own
 * app-scoped policy. Every policy names a filler token; tests name theirs behind the index's back.
 */
function world() {
  const accountId = sim.state.createAccount({ name: `index ${randomBytes(4).toString('hex')}` }).id;
  const apiToken = sim.state.createApiToken({
    owner: 'user',
    name: 'token-warden',
    accountId,
    permissions: [...WARDEN_ACCOUNT_PERMISSIONS, ...WARDEN_USER_PERMISSIONS],
  }).value;
  const wardenClient = (purpose: 'reads' | 'mutations') =>
    createCloudflareClient({ apiToken, baseURL: sim.baseURL, purpose });
  const token = (): string =>
    sim.state.createServiceToken({ accountId, name: `svc-${randomBytes(4).toString('hex')}` }).id;
  const filler = token();
  const reusable: string[] = [];
  const scoped: string[] = [];
  for (let i = 0; i < APPS; i++) {
    const app = sim.state.createAccessApp({ accountId, name: `app ${i}` });
    reusable.push(
      sim.state.createAccessPolicy({
        accountId,
        name: `shared ${i}`,
        include: [{ service_token: { token_id: filler } }],
        attachTo: [app.id],
      }).id,
    );
    scoped.push(
      sim.state.createAccessPolicy({
        accountId,
        appId: app.id,
        name: `own ${i}`,
        include: [{ service_token: { token_id: filler } }],
      }).id,
    );
  }
  const record = (policyId: string) => sim.state.store.data.accessPolicies[policyId]!;
  /** Changes a policy as someone in the dashboard would: no request the counters see, nothing the index hears. */
  const setInclude = (policyId: string, include: Array<Record<string, unknown>>) => {
    const p = record(policyId);
    const input = { name: p.name, decision: p.decision, include, exclude: p.exclude, require: p.require };
    if (p.appId === null) sim.state.access.updateReusable(accountId, policyId, input);
    else sim.state.access.updateAppPolicy(accountId, p.appId, policyId, input);
  };
  const name = (tokenId: string, ...policyIds: string[]) => {
    for (const policyId of policyIds)
      setInclude(policyId, [...record(policyId).include, { service_token: { token_id: tokenId } }]);
  };
  const named = (policyId: string): string[] =>
    record(policyId).include.map((rule) => (rule.service_token as { token_id: string } | undefined)?.token_id ?? '?');
  return {
    accountId,
    wardenClient,
    reusable,
    scoped,
    appOf: (policyId: string) => record(policyId).appId,
    token,
    named,
    /** Adds the token to these policies behind the index's back. */
    name,
    /** A new token, named by these policies behind the index's back. */
    tokenNamedBy(...policyIds: string[]): string {
      const id = token();
      name(id, ...policyIds);
      return id;
    },
    unname: (tokenId: string, policyId: string) =>
      setInclude(
        policyId,
        record(policyId).include.filter(
          (rule) => (rule.service_token as { token_id?: string } | undefined)?.token_id !== tokenId,
        ),
      ),
    /** Every policy naming the token, as the simulator knows it. */
    namedBy: (tokenId: string) =>
      sim.state
        .policiesNamingServiceToken(accountId, tokenId)
        .map((p) => p.id)
        .sort(),
  };
}
type World = ReturnType<typeof world>;

/** Activities as a worker builds them: the fleet's advisory lock and Postgres index, or the defaults. */
const setups: Array<[string, (w: World) => ReturnType<typeof createAccessPolicyActivities>]> = [
  [
    'with the Postgres index',
    (w) =>
      createAccessPolicyActivities({
        wardenClient: w.wardenClient,
        policyLock: createAdvisoryLock(db.pool),
        policyIndex: createPostgresPolicyIndex(db.pool),
      }),
  ],
  ['with the in-memory default', (w) => createAccessPolicyActivities({ wardenClient: w.wardenClient })],
];

describe.each(setups)('Access policy edits %s', (_name, activitiesFor) => {
  it('scans once when cold, then binds with one read and one write per policy naming the token', async () => {
    const w = world();
    const activities = activitiesFor(w);
    const [first, second] = [
      w.tokenNamedBy(w.reusable[0]!, w.scoped[1]!),
      w.tokenNamedBy(w.reusable[2]!, w.scoped[3]!),
    ];
    const [firstNext, secondNext] = [w.token(), w.token()];

    expect(
      await cost(() =>
        activities.bindTokenToPolicies({ accountId: w.accountId, besideTokenId: first, newTokenId: firstNext }),
      ),
    ).toEqual(plus(SCAN, { gets: 2, puts: 2 }));
    expect(sim.calls.count(OPS.appPolicyList)).toBe(APPS);

    let bound: unknown;
    expect(
      await cost(
        async () =>
          (bound = await activities.bindTokenToPolicies({
            accountId: w.accountId,
            besideTokenId: second,
            newTokenId: secondNext,
          })),
      ),
    ).toEqual(edits(2, 2));
    // One reusable policy, edited at the account; one app-scoped, edited through its app.
    expect(
      [OPS.reusableGet, OPS.reusablePut, OPS.appPolicyGet, OPS.appPolicyPut].map((op) => sim.calls.count(op, 200)),
    ).toEqual([1, 1, 1, 1]);
    expect(bound).toEqual([
      { policyId: w.reusable[2], name: 'shared 2' },
      { policyId: w.scoped[3], name: 'own 3', appId: w.appOf(w.scoped[3]!) },
    ]);
    expect(w.namedBy(firstNext)).toEqual([w.reusable[0], w.scoped[1]].sort());
    expect(w.namedBy(secondNext)).toEqual([w.reusable[2], w.scoped[3]].sort());
    expect(w.named(w.scoped[3]!).slice(-2)).toEqual([second, secondNext]);
  });

  it('unbinds after a bind with one read and one write per policy, and no scan', async () => {
    const w = world();
    const activities = activitiesFor(w);
    const old = w.tokenNamedBy(w.reusable[5]!, w.scoped[6]!);
    const next = w.token();
    await activities.bindTokenToPolicies({ accountId: w.accountId, besideTokenId: old, newTokenId: next });

    expect(await cost(() => activities.unbindTokenFromPolicies({ accountId: w.accountId, tokenId: old }))).toEqual(
      edits(2, 2),
    );
    expect(w.namedBy(old)).toEqual([]);
    expect(w.namedBy(next)).toEqual([w.reusable[5], w.scoped[6]].sort());
    // The new token is known too: undoing the bind (the compensation) needs no scan either.
    expect(await cost(() => activities.unbindTokenFromPolicies({ accountId: w.accountId, tokenId: next }))).toEqual(
      edits(2, 2),
    );
    expect(w.namedBy(next)).toEqual([]);
    // Nothing names the token any more: a second unbind (a retry) costs nothing.
    expect(await cost(() => activities.unbindTokenFromPolicies({ accountId: w.accountId, tokenId: next }))).toEqual(
      edits(0, 0),
    );
  });

  it('skips a policy that no longer names the token (no write) and forgets it for that token', async () => {
    const w = world();
    const activities = activitiesFor(w);
    const old = w.tokenNamedBy(w.reusable[7]!, w.scoped[8]!);
    expect(
      await cost(() => activities.unbindTokenFromPolicies({ accountId: w.accountId, tokenId: w.token() })),
    ).toEqual(SCAN);
    w.unname(old, w.reusable[7]!);

    const next = w.token();
    expect(
      await cost(() =>
        activities.bindTokenToPolicies({ accountId: w.accountId, besideTokenId: old, newTokenId: next }),
      ),
    ).toEqual(edits(2, 1));
    expect(w.namedBy(next)).toEqual([w.scoped[8]]);
    // Corrected: the unbind reads only the policy still naming the token.
    expect(await cost(() => activities.unbindTokenFromPolicies({ accountId: w.accountId, tokenId: old }))).toEqual(
      edits(1, 1),
    );
  });

  it('skips a policy deleted since the scan', async () => {
    const w = world();
    const activities = activitiesFor(w);
    const old = w.tokenNamedBy(w.reusable[9]!, w.scoped[9]!);
    await activities.unbindTokenFromPolicies({ accountId: w.accountId, tokenId: w.token() });
    sim.state.access.detach(w.accountId, w.appOf(w.scoped[9]!)!, w.scoped[9]!);

    const next = w.token();
    expect(
      await cost(() =>
        activities.bindTokenToPolicies({ accountId: w.accountId, besideTokenId: old, newTokenId: next }),
      ),
    ).toEqual(edits(2, 1));
    expect(sim.calls.count(OPS.appPolicyGet, 404)).toBe(1);
    expect(await cost(() => activities.unbindTokenFromPolicies({ accountId: w.accountId, tokenId: next }))).toEqual(
      edits(1, 1),
    );
  });

  it('converges when a write was applied but its answer lost: the retry writes nothing twice', async () => {
    const w = world();
    const activities = activitiesFor(w);
    const old = w.tokenNamedBy(w.reusable[10]!, w.scoped[11]!);
    const next = w.token();
    sim.faults.add({ match: { operationId: OPS.appPolicyPut }, applyThenDrop: true, times: 1 });
    await expect(
      activities.bindTokenToPolicies({ accountId: w.accountId, besideTokenId: old, newTokenId: next }),
    ).rejects.toThrow(/bind service token/);
    expect(w.namedBy(next)).toEqual([w.reusable[10], w.scoped[11]].sort());

    expect(
      await cost(() =>
        activities.bindTokenToPolicies({ accountId: w.accountId, besideTokenId: old, newTokenId: next }),
      ),
    ).toEqual(edits(2, 0));
    expect(w.named(w.scoped[11]!).filter((id) => id === next)).toHaveLength(1);
    expect(await cost(() => activities.unbindTokenFromPolicies({ accountId: w.accountId, tokenId: old }))).toEqual(
      edits(2, 2),
    );
  });

  it('lets the compensating unbind find a new token whose bind lost its answer and was never retried', async () => {
    const w = world();
    const activities = activitiesFor(w);
    const old = w.tokenNamedBy(w.reusable[12]!, w.scoped[13]!);
    const next = w.token();
    sim.faults.add({ match: { operationId: OPS.appPolicyPut }, applyThenDrop: true, times: 1 });
    await expect(
      activities.bindTokenToPolicies({ accountId: w.accountId, besideTokenId: old, newTokenId: next }),
    ).rejects.toThrow();

    expect(await cost(() => activities.unbindTokenFromPolicies({ accountId: w.accountId, tokenId: next }))).toEqual(
      edits(2, 2),
    );
    expect(w.namedBy(next)).toEqual([]);
    expect(w.namedBy(old)).toEqual([w.reusable[12], w.scoped[13]].sort());
  });

  it('finds the policies naming a token, reading each the index lists', async () => {
    const w = world();
    const activities = activitiesFor(w);
    const token = w.tokenNamedBy(w.reusable[14]!, w.scoped[15]!);
    expect(
      await cost(async () =>
        expect(await activities.findPoliciesNamingToken({ accountId: w.accountId, tokenId: token })).toEqual([
          { policyId: w.reusable[14], name: 'shared 14' },
          { policyId: w.scoped[15], name: 'own 15', appId: w.appOf(w.scoped[15]!) },
        ]),
      ),
    ).toEqual(plus(SCAN, { gets: 2 }));
    w.unname(token, w.scoped[15]!);
    expect(await activities.findPoliciesNamingToken({ accountId: w.accountId, tokenId: token })).toEqual([
      { policyId: w.reusable[14], name: 'shared 14' },
    ]);
  });
});

describe('Access policy edits across a fleet sharing the Postgres index', () => {
  it('runs one scan for two concurrent binds from two worker processes', async () => {
    const w = world();
    const [a, b] = [w.tokenNamedBy(w.reusable[0]!, w.scoped[1]!), w.tokenNamedBy(w.reusable[1]!, w.scoped[2]!)];
    // Two pools stand for two workers of a fleet: they share only the database.
    const pools = [createPool(db.url), createPool(db.url)];
    try {
      const [first, second] = pools.map((pool) =>
        createAccessPolicyActivities({
          wardenClient: w.wardenClient,
          policyLock: createAdvisoryLock(pool),
          policyIndex: createPostgresPolicyIndex(pool, { pollMs: 20 }),
        }),
      );
      const [aNext, bNext] = [w.token(), w.token()];
      // Slow lists keep the first scan running while the second worker looks.
      sim.faults.add({ match: { operationId: OPS.appPolicyList }, latencyMs: 10 });
      const spent = await cost(() =>
        Promise.all([
          first!.bindTokenToPolicies({ accountId: w.accountId, besideTokenId: a, newTokenId: aNext }),
          second!.bindTokenToPolicies({ accountId: w.accountId, besideTokenId: b, newTokenId: bNext }),
        ]),
      );
      expect(spent).toEqual(plus(SCAN, { gets: 4, puts: 4 }));
      expect(w.namedBy(aNext)).toEqual([w.reusable[0], w.scoped[1]].sort());
      expect(w.namedBy(bNext)).toEqual([w.reusable[1], w.scoped[2]].sort());
    } finally {
      await Promise.all(pools.map((pool) => pool.end()));
    }
  });

  it('sees a policy someone edited in the dashboard to name the token at the first scan past the bound', async () => {
    const w = world();
    const deps: AccessPolicyDeps = {
      wardenClient: w.wardenClient,
      policyLock: createAdvisoryLock(db.pool),
      policyIndex: createPostgresPolicyIndex(db.pool),
    };
    const activities = createAccessPolicyActivities(deps);
    const old = w.tokenNamedBy(w.reusable[3]!, w.scoped[4]!);
    await activities.unbindTokenFromPolicies({ accountId: w.accountId, tokenId: w.token() });
    const dashboard = w.reusable[5]!;
    w.name(old, dashboard);

    // Inside the bound the index does not know yet.
    expect(
      await cost(() =>
        activities.bindTokenToPolicies({ accountId: w.accountId, besideTokenId: old, newTokenId: w.token() }),
      ),
    ).toEqual(edits(2, 2));
    // Past it (11 minutes later), the lookup scans again and finds the third policy.
    await db.pool.query(
      `UPDATE access_policy_scans SET scanned_at = scanned_at - interval '11 minutes' WHERE account_id = $1`,
      [w.accountId],
    );
    const later = w.token();
    expect(
      await cost(() =>
        activities.bindTokenToPolicies({ accountId: w.accountId, besideTokenId: old, newTokenId: later }),
      ),
    ).toEqual(plus(SCAN, { gets: 3, puts: 3 }));
    expect(w.namedBy(later)).toEqual([w.reusable[3], w.scoped[4], dashboard].sort());
  });

  it('corrects the shared index when a policy no longer names the token', async () => {
    const w = world();
    const activities = createAccessPolicyActivities({
      wardenClient: w.wardenClient,
      policyLock: createAdvisoryLock(db.pool),
      policyIndex: createPostgresPolicyIndex(db.pool),
    });
    const old = w.tokenNamedBy(w.reusable[6]!, w.scoped[7]!);
    await activities.unbindTokenFromPolicies({ accountId: w.accountId, tokenId: w.token() });
    w.unname(old, w.scoped[7]!);
    const next = w.token();
    await activities.bindTokenToPolicies({ accountId: w.accountId, besideTokenId: old, newTokenId: next });
    const { rows } = await db.pool.query<{ policy_id: string; app_id: string | null }>(
      'SELECT policy_id, app_id FROM access_policy_index WHERE account_id = $1 AND token_ids @> ARRAY[$2::text] ORDER BY policy_id',
      [w.accountId, old],
    );
    expect(rows).toEqual([{ policy_id: w.reusable[6], app_id: null }]);
    const bound = await db.pool.query(
      'SELECT policy_id FROM access_policy_index WHERE account_id = $1 AND token_ids @> ARRAY[$2::text]',
      [w.accountId, next],
    );
    expect(bound.rows).toEqual([{ policy_id: w.reusable[6] }]);
  });
});
