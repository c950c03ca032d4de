import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool } from 'pg';
import {
  createInMemoryPolicyIndex,
  createPostgresPolicyIndex,
  type IndexedPolicy,
  type PolicyIndex,
} from '../../src/db/access-policy-index';
import { createTestDatabase, type TestDatabase } from '../support/database';

const HOUR = 60 * 60 * 1000;

/** A fresh account per test, so tests never share rows. */
const newAccount = () => `acct-${randomBytes(6).toString('hex')}`;

/** A scan answering `policies` (or, when it is a function, what that returns), counting its calls. */
function scanner(policies: IndexedPolicy[] | (() => Promise<IndexedPolicy[]>)) {
  const scan = jest.fn(async () => (typeof policies === 'function' ? policies() : policies));
  return { scan, refresh: (maxAgeMs = HOUR) => ({ maxAgeMs, scan }) };
}

const reusable = (policyId: string, tokenIds: string[]): IndexedPolicy => ({
  policyId,
  name: `policy ${policyId}`,
  tokenIds,
});
const ids = (refs: Array<{ policyId: string }>) => refs.map((r) => r.policyId).sort();

/** The rules every implementation follows. */
function behavesAsAnIndex(make: () => PolicyIndex) {
  it('scans once when the account has no index, then answers from it', async () => {
    const index = make();
    const accountId = newAccount();
    const { scan, refresh } = scanner([
      reusable('p1', ['a', 'b']),
      reusable('p2', ['b']),
      { policyId: 'p3', name: 'app one', appId: 'app-1', tokenIds: ['a'] },
    ]);
    expect(await index.policiesNaming(accountId, 'a', refresh())).toEqual([
      { policyId: 'p1', name: 'policy p1' },
      { policyId: 'p3', name: 'app one', appId: 'app-1' },
    ]);
    expect(ids(await index.policiesNaming(accountId, 'b', refresh()))).toEqual(['p1', 'p2']);
    expect(await index.policiesNaming(accountId, 'nobody', refresh())).toEqual([]);
    expect(scan).toHaveBeenCalledTimes(1);
  });

  it('scans again once the index is older than the bound', async () => {
    const index = make();
    const accountId = newAccount();
    const { scan, refresh } = scanner([reusable('p1', ['a'])]);
    await index.policiesNaming(accountId, 'a', refresh());
    await index.policiesNaming(accountId, 'a', refresh(0));
    expect(scan).toHaveBeenCalledTimes(2);
  });

  it('runs one scan for concurrent lookups', async () => {
    const index = make();
    const accountId = newAccount();
    const { scan, refresh } = scanner(async () => {
      await sleep(50);
      return [reusable('p1', ['a'])];
    });
    const found = await Promise.all(Array.from({ length: 5 }, () => index.policiesNaming(accountId, 'a', refresh())));
    expect(found.map(ids)).toEqual(Array.from({ length: 5 }, () => ['p1']));
    expect(scan).toHaveBeenCalledTimes(1);
  });

  it('adds what a read saw, and drops only the tokens the reader decides', async () => {
    const index = make();
    const accountId = newAccount();
    const { refresh } = scanner([reusable('p1', ['a', 'b', 'c'])]);
    await index.policiesNaming(accountId, 'a', refresh());
    // A read showing only a and d: d is added; b and c stay, as nobody decided them.
    await index.record(accountId, reusable('p1', ['a', 'd']));
    expect(ids(await index.policiesNaming(accountId, 'b', refresh()))).toEqual(['p1']);
    expect(ids(await index.policiesNaming(accountId, 'd', refresh()))).toEqual(['p1']);
    // The run owning b read the policy without it: b goes.
    await index.record(accountId, reusable('p1', ['a', 'd']), ['b']);
    expect(await index.policiesNaming(accountId, 'b', refresh())).toEqual([]);
    expect(ids(await index.policiesNaming(accountId, 'c', refresh()))).toEqual(['p1']);
  });

  it('keeps a policy first seen by an edit, app-scoped or not, and forgets a deleted one', async () => {
    const index = make();
    const accountId = newAccount();
    const { refresh } = scanner([]);
    await index.policiesNaming(accountId, 'a', refresh());
    await index.record(accountId, { policyId: 'p9', name: 'late', appId: 'app-9', tokenIds: ['a'] });
    expect(await index.policiesNaming(accountId, 'a', refresh())).toEqual([
      { policyId: 'p9', name: 'late', appId: 'app-9' },
    ]);
    await index.forget(accountId, 'p9');
    expect(await index.policiesNaming(accountId, 'a', refresh())).toEqual([]);
  });

  it('a scan replaces what it read before, and drops policies gone from Cloudflare', async () => {
    const index = make();
    const accountId = newAccount();
    let policies = [reusable('p1', ['a']), reusable('p2', ['a'])];
    const { refresh } = scanner(async () => policies);
    await index.policiesNaming(accountId, 'a', refresh());
    policies = [reusable('p1', ['b'])];
    expect(await index.policiesNaming(accountId, 'a', refresh(0))).toEqual([]);
    expect(ids(await index.policiesNaming(accountId, 'b', refresh()))).toEqual(['p1']);
  });

  it('a scan never loses a token an edit recorded while it ran', async () => {
    const index = make();
    const accountId = newAccount();
    let release!: () => void;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let scanning!: () => void;
    const started = new Promise<void>((resolve) => {
      scanning = resolve;
    });
    await index.record(accountId, reusable('p1', ['a']));
    // The scan read p1 before the edit bound a2 beside a, and writes after the edit recorded it.
    const { refresh } = scanner(async () => {
      scanning();
      await held;
      return [reusable('p1', ['a'])];
    });
    const lookup = index.policiesNaming(accountId, 'a', refresh());
    await started;
    // Not awaited yet: it may wait for the scan's transaction to end.
    const recorded = index.record(accountId, reusable('p1', ['a', 'a2']), ['a', 'a2']);
    await sleep(100);
    release();
    await Promise.all([lookup, recorded]);
    expect(ids(await index.policiesNaming(accountId, 'a2', refresh()))).toEqual(['p1']);
  });
}

describe('the Access policy index', () => {
  describe('in memory', () => {
    behavesAsAnIndex(() => createInMemoryPolicyIndex());
  });

  describe('on a real PostgreSQL server', () => {
    let db: TestDatabase;
    beforeAll(async () => {
      db = await createTestDatabase();
    });
    afterAll(async () => db?.drop());

    behavesAsAnIndex(() => createPostgresPolicyIndex(db.pool));

    it('runs one scan for two workers of a fleet looking up at once', async () => {
      // Two pools stand for two worker processes: only the advisory lock is shared.
      const pools = [new Pool({ connectionString: db.url, max: 3 }), new Pool({ connectionString: db.url, max: 3 })];
      try {
        const accountId = newAccount();
        const { scan, refresh } = scanner(async () => {
          await sleep(100);
          return [reusable('p1', ['a'])];
        });
        const indexes = pools.map((pool) => createPostgresPolicyIndex(pool, { pollMs: 20 }));
        const found = await Promise.all(indexes.map((index) => index.policiesNaming(accountId, 'a', refresh())));
        expect(found.map(ids)).toEqual([['p1'], ['p1']]);
        expect(scan).toHaveBeenCalledTimes(1);
      } finally {
        await Promise.all(pools.map((pool) => pool.end()));
      }
    });

    it('gives up waiting for another worker that holds the scan too long (the activity retries)', async () => {
      const pools = [new Pool({ connectionString: db.url, max: 2 }), new Pool({ connectionString: db.url, max: 2 })];
      let release!: () => void;
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      try {
        const accountId = newAccount();
        const slow = createPostgresPolicyIndex(pools[0]!).policiesNaming(accountId, 'a', {
          maxAgeMs: HOUR,
          scan: async () => {
            await held;
            return [];
          },
        });
        await sleep(100);
        const impatient = createPostgresPolicyIndex(pools[1]!, { waitMs: 200, pollMs: 20 });
        await expect(impatient.policiesNaming(accountId, 'a', scanner([]).refresh())).rejects.toThrow(/did not finish/);
        release();
        await slow;
      } finally {
        release();
        await Promise.all(pools.map((pool) => pool.end()));
      }
    });

    it('stores one row per policy and the scan time per account', async () => {
      const accountId = newAccount();
      const index = createPostgresPolicyIndex(db.pool);
      await index.policiesNaming(accountId, 'a', scanner([reusable('p1', ['b', 'a', 'a'])]).refresh());
      const { rows } = await db.pool.query(
        'SELECT policy_id, app_id, token_ids FROM access_policy_index WHERE account_id = $1',
        [accountId],
      );
      expect(rows).toEqual([{ policy_id: 'p1', app_id: null, token_ids: ['a', 'b'] }]);
      const scans = await db.pool.query('SELECT count(*)::int AS n FROM access_policy_scans WHERE account_id = $1', [
        accountId,
      ]);
      expect(scans.rows[0].n).toBe(1);
    });
  });
});
