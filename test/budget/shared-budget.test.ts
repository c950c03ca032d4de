import { spawn } from 'node:child_process';
import path from 'node:path';
import { PROJECT_ROOT } from '../../src/paths';
import { budgetShape } from '../../src/cloudflare/budget/shape';
import { startLoopbackServer, type LoopbackServer } from '../fakes/loopback-server';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { busiestWindow } from '../bench/windows';

const WINDOW_MS = 2_000;
const REQUESTS = 40;

/** One stand-in worker process sending `count` requests through the shared budget. */
function runChild(db: TestDatabase, target: string, env: Record<string, string>): Promise<{ statuses: number[] }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'budget-child.ts')], {
      cwd: PROJECT_ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        DATABASE_URL: db.url,
        TARGET_URL: target,
        REQUESTS: String(REQUESTS),
        WINDOW_MS: String(WINDOW_MS),
        OWNER: 'alice',
        LANE: 'scheduled',
        CONCURRENCY: '4',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim()) as { statuses: number[] })
        : reject(new Error(`child exited ${code}: ${err}`)),
    );
  });
}

describe('one Cloudflare request budget shared by worker processes', () => {
  let db: TestDatabase;
  let server: LoopbackServer;
  const arrivals: Array<{ at: number; path: string }> = [];
  let answer: (at: number) => { status: number; headers?: Record<string, string> } = () => ({ status: 200 });

  beforeAll(async () => {
    db = await createTestDatabase();
    server = await startLoopbackServer((request) => {
      const at = Date.now();
      const answered = answer(at);
      arrivals.push({ at, path: request.path });
      return { ...answered, body: { success: true } };
    });
  });
  afterAll(async () => {
    await server.close();
    await db.drop();
  });
  beforeEach(async () => {
    arrivals.length = 0;
    answer = () => ({ status: 200 });
    await db.pool.query('DELETE FROM cloudflare_budget');
  });

  it('keeps two processes together within the budget in every window, at close to its pace', async () => {
    const results = await Promise.all([
      runChild(db, server.url, { COUNT: '45' }),
      runChild(db, server.url, { COUNT: '45' }),
    ]);
    expect(results.flatMap((r) => r.statuses)).toEqual(Array(90).fill(200));
    expect(arrivals).toHaveLength(90);
    // Cloudflare counts per user over its window: the two processes together stay inside it.
    const times = arrivals.map((a) => a.at);
    expect(busiestWindow(times, WINDOW_MS)!.count).toBeLessThanOrEqual(REQUESTS);
    // ... and the budget is spent, not wasted: 90 requests take about 90 emission intervals.
    const { emissionMs, burst } = budgetShape({ requestsPerWindow: REQUESTS, windowMs: WINDOW_MS });
    const span = Math.max(...times) - Math.min(...times);
    expect(span).toBeGreaterThanOrEqual((90 - burst.scheduled) * emissionMs * 0.95);
  });

  it("pauses every process while Cloudflare's 429 block lasts, then sends what it refused", async () => {
    // Once both processes are sending, one request of one of them is refused for a second;
    // the other process never sees a 429 itself.
    let refusedAt = 0;
    answer = (at) => {
      const senders = new Set(arrivals.map((a) => a.path));
      if (refusedAt === 0 && senders.size === 2) {
        refusedAt = at;
        return { status: 429, headers: { 'Retry-After': '1', Ratelimit: '"default";r=0;t=1' } };
      }
      return { status: 200 };
    };
    const results = await Promise.all([
      runChild(db, server.url, { COUNT: '12', CONCURRENCY: '1' }),
      runChild(db, server.url, { COUNT: '12', CONCURRENCY: '1' }),
    ]);
    // Nobody saw the 429: the refused request was sent again once the block was over.
    expect(results.flatMap((r) => r.statuses)).toEqual(Array(24).fill(200));
    expect(refusedAt).toBeGreaterThan(0);
    // Inside the block only a request already on its way when it began may arrive (one per
    // process sending one at a time); the other process paused too.
    const inBlock = arrivals.filter((a) => a.at > refusedAt && a.at < refusedAt + 950);
    expect(inBlock.length).toBeLessThanOrEqual(1);
    expect(arrivals.filter((a) => a.at >= refusedAt + 950)).not.toHaveLength(0);
  });
});
