import { setTimeout as sleep } from 'node:timers/promises';
import { budgetedFetch } from '../../src/cloudflare/budget/budgeted-fetch';
import { createBudgetedClients } from '../../src/cloudflare/budgeted-clients';
import type { Lane } from '../../src/cloudflare/budget/lanes';
import { createRequestBudget, type RequestBudget } from '../../src/cloudflare/budget/request-budget';
import { budgetShape } from '../../src/cloudflare/budget/shape';
import type { BudgetStore } from '../../src/cloudflare/budget/store';
import { createPostgresBudgetStore } from '../../src/db/cloudflare-budget-store';
import { createPool } from '../../src/db/pool';
import { startLoopbackServer, type LoopbackServer } from '../fakes/loopback-server';
import { createTestDatabase, type TestDatabase } from '../support/database';

const settings = { requestsPerWindow: 40, windowMs: 8_000 };
const shape = budgetShape(settings);

describe('the request budget', () => {
  let db: TestDatabase;
  let server: LoopbackServer;
  let arrivals: Array<{ at: number; path: string }> = [];
  const pools: Array<{ end(): Promise<void> }> = [];
  const budgets: RequestBudget[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startLoopbackServer((request) => {
      arrivals.push({ at: Date.now(), path: request.path });
      return {
        status: 200,
        body: { success: true, errors: [], messages: [], result: { id: 'token-id', status: 'active' } },
      };
    });
  });
  afterEach(() => {
    for (const budget of budgets.splice(0)) budget.close();
  });
  afterAll(async () => {
    for (const pool of pools) await pool.end();
    await server.close();
    await db.drop();
  });
  beforeEach(async () => {
    arrivals = [];
    await db.pool.query('DELETE FROM cloudflare_budget');
  });

  /** A budget as one worker process has it: its own pool on the shared database. */
  function processBudget(store?: BudgetStore): RequestBudget {
    const pool = createPool(db.url);
    pools.push(pool);
    return track(createRequestBudget({ store: store ?? createPostgresBudgetStore(pool), settings }));
  }
  function track(budget: RequestBudget): RequestBudget {
    budgets.push(budget);
    return budget;
  }
  const sender = (budget: RequestBudget, lane: Lane) => {
    const send = budgetedFetch({ budget, owner: 'alice', lane, sendTimeoutMs: 5_000 });
    return async (path: string) => (await send(`${server.url}/${path}`)).status;
  };

  it('lets a revoke overtake a full scheduled lane, in its own process and in another one', async () => {
    const worker = processBudget();
    const otherWorker = processBudget();
    const routine = sender(worker, 'scheduled');
    const backlog = Promise.all(Array.from({ length: 24 }, (_, i) => routine(`scheduled-${i}`)));
    // The scheduled lane is saturated: every request waits its turn at the budget's pace.
    while (arrivals.length < 4) await sleep(10);

    // What each revoke waited behind: scheduled requests arriving between its ask and its arrival.
    const overtaken: number[] = [];
    for (const [name, budget] of [
      ['same', worker],
      ['other', otherWorker],
      ['same', worker],
      ['other', otherWorker],
    ] as const) {
      const path = `emergency-${name}-${overtaken.length}`;
      const askedAt = Date.now();
      expect(await sender(budget, 'emergency')(path)).toBe(200);
      const arrivedAt = arrivals.find((a) => a.path === `/${path}`)!.at;
      overtaken.push(
        arrivals.filter((a) => a.path.startsWith('/scheduled') && a.at >= askedAt && a.at <= arrivedAt).length,
      );
      await sleep(shape.emissionMs / 3);
    }
    // 24 scheduled requests were queued; a revoke waits at most for the one in flight ahead of it.
    expect(Math.max(...overtaken)).toBeLessThanOrEqual(1);
    expect(arrivals.filter((a) => a.path.startsWith('/scheduled')).length).toBeLessThan(24);
    await backlog;
  });

  it('sends nothing while its store is unreachable, except an emergency within its own reserve', async () => {
    const deadPool = createPool('postgres://nobody@127.0.0.1:1/none');
    pools.push(deadPool);
    const budget = track(
      createRequestBudget({ store: createPostgresBudgetStore(deadPool), settings, emergencyStoreTimeoutMs: 200 }),
    );
    // Refused when the budget closes at the end of the test.
    const routine = sender(budget, 'scheduled')('scheduled').catch(() => 'never sent');
    const emergencies = Array.from({ length: shape.burst.emergency }, (_, i) =>
      sender(budget, 'emergency')(`emergency-${i}`).catch(() => 'never sent'),
    );
    await sleep(2_000);
    const reserve = shape.burst.emergency - shape.burst.interactive;
    expect(arrivals.filter((a) => a.path.startsWith('/emergency'))).toHaveLength(reserve);
    expect(arrivals.filter((a) => a.path === '/scheduled')).toHaveLength(0);
    budget.close();
    expect(await routine).toBe('never sent');
    expect((await Promise.all(emergencies)).filter((r) => r === 'never sent')).toHaveLength(
      shape.burst.emergency - reserve,
    );
  });

  it("counts each token's requests against its own Cloudflare user", async () => {
    const clients = createBudgetedClients({
      budget: processBudget(),
      warden: { apiToken: 'warden-token', baseURL: server.url, owner: 'alice' },
    })('scheduled');
    await clients.warden('reads').user.tokens.verify();
    await clients
      .factory({ apiToken: 'bobs-token', baseURL: server.url, purpose: 'reads', budgetOwner: 'bob' })
      .user.tokens.verify();
    await clients.factory({ apiToken: 'another-of-alice', baseURL: server.url, purpose: 'reads' }).user.tokens.verify();
    await sleep(300);
    const { rows } = await db.pool.query<{ owner: string; granted: string }>(
      'SELECT owner, granted FROM cloudflare_budget ORDER BY owner',
    );
    // Each user's requests (alice 2, bob 1), and at most the one unit its lane takes ahead.
    const granted = Object.fromEntries(rows.map((r) => [r.owner, Number(r.granted)]));
    expect(Object.keys(granted)).toEqual(['alice', 'bob']);
    expect(granted.alice! - 2).toBeGreaterThanOrEqual(0);
    expect(granted.alice! - 2).toBeLessThanOrEqual(1);
    expect(granted.bob! - 1).toBeGreaterThanOrEqual(0);
    expect(granted.bob! - 1).toBeLessThanOrEqual(1);
  });

  it('holds requests while the store is down and sends them once it is back', async () => {
    const pool = createPool(db.url);
    pools.push(pool);
    const real = createPostgresBudgetStore(pool);
    let down = true;
    const flaky: BudgetStore = {
      take: (owner, lane, s) => (down ? Promise.reject(new Error('connect ECONNREFUSED')) : real.take(owner, lane, s)),
      block: (owner, ms) => real.block(owner, ms),
      observe: (owner, reading, s) => real.observe(owner, reading, s),
      load: (owner) => real.load(owner),
    };
    const pending = sender(processBudget(flaky), 'interactive')('held');
    await sleep(1_500);
    expect(arrivals).toHaveLength(0);
    down = false;
    expect(await pending).toBe(200);
    expect(arrivals.map((a) => a.path)).toEqual(['/held']);
  });

  it('sends on a unit taken ahead without waiting for the store, and drops it when Cloudflare blocks', async () => {
    const pool = createPool(db.url);
    pools.push(pool);
    const real = createPostgresBudgetStore(pool);
    // A store far away: every take costs a long round trip.
    const slow: BudgetStore = {
      ...real,
      take: async (owner, lane, s) => {
        await sleep(200);
        return real.take(owner, lane, s);
      },
    };
    const budget = processBudget(slow);
    const send = sender(budget, 'emergency');
    const timed = async (path: string) => {
      const askedAt = Date.now();
      expect(await send(path)).toBe(200);
      return arrivals.find((a) => a.path === `/${path}`)!.at - askedAt;
    };

    expect(await timed('first')).toBeGreaterThanOrEqual(190);
    await sleep(400); // the unit behind it is taken meanwhile
    expect(await timed('second')).toBeLessThan(100);
    await sleep(400);
    const { rows } = await db.pool.query<{ granted: string }>('SELECT granted FROM cloudflare_budget');
    expect(rows).toEqual([{ granted: '3' }]); // two sent, one in hand: counted before it is sent

    await budget.rateLimited('alice', 1_000);
    expect(await timed('after-block')).toBeGreaterThanOrEqual(900);
  });
});
