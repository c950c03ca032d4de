import { startSimulator, type CountedApiRequest, type RunningSimulator } from '@token-warden/cloudflare-simulator';
import { createBudgetedClients } from '../../src/cloudflare/budgeted-clients';
import { createRequestBudget, type RequestBudget } from '../../src/cloudflare/budget/request-budget';
import { createPostgresBudgetStore } from '../../src/db/cloudflare-budget-store';
import { createTestDatabase, type TestDatabase } from '../support/database';

/**
 * Cloudflare's limit at a tenth of its size (120 per 3-second window), token-warden's budget
 * set close to it (100), and a colleague on the same user spending 30 % of the allowance:
 * without Cloudflare's headers the two together overrun it and block the user.
 */
describe('the request budget with outside traffic on the same Cloudflare user', () => {
  let sim: RunningSimulator;
  let db: TestDatabase;
  let budget: RequestBudget;
  beforeAll(async () => {
    sim = await startSimulator({ port: 0, seed: 'demo', timeScale: 100, rateLimit: { limit: 120 } });
    db = await createTestDatabase();
    budget = createRequestBudget({
      store: createPostgresBudgetStore(db.pool),
      settings: { requestsPerWindow: 100, windowMs: 3_000 },
    });
  });
  afterAll(async () => {
    budget?.close();
    await db?.drop();
    await sim?.close();
  });

  it("slows down before Cloudflare's limit when its headers show someone else spending: no 429, no block", async () => {
    const warden = sim.demo!.apiTokens.warden.value!;
    const seen: CountedApiRequest[] = [];
    sim.calls.onRequest((event) => seen.push(event));
    const client = createBudgetedClients({ budget, warden: { apiToken: warden, baseURL: sim.baseURL, owner: 'ops' } })(
      'scheduled',
    ).warden('reads');
    const until = Date.now() + 9_000;
    const outside = setInterval(() => sim.rateLimit.spend({ tokenValue: warden }, 3), 250); // 36 per window
    try {
      await Promise.all(
        Array.from({ length: 4 }, async () => {
          while (Date.now() < until) await client.user.tokens.verify();
        }),
      );
    } finally {
      clearInterval(outside);
    }
    const ours = seen.filter((e) => !e.outside);
    expect(ours.filter((e) => e.rateLimited)).toEqual([]);
    expect(seen.filter((e) => e.outside && e.rateLimited)).toEqual([]);
    // ... and it still spends what the colleague leaves (three windows of 120 - 36), rather than
    // stalling on the headers: half of it at least, as a loaded CI machine sends more slowly.
    expect(ours.length).toBeGreaterThan(3 * (120 - 36) * 0.5);
  });
});
