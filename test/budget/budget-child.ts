/**
 * A stand-in worker process for the shared-budget tests: sends COUNT requests to TARGET_URL
 * through the budget on DATABASE_URL, CONCURRENCY at a time, and prints one JSON line with the
 * statuses it got.
 */
import { budgetedFetch } from '../../src/cloudflare/budget/budgeted-fetch';
import { z } from 'zod';
import { LANES } from '../../src/cloudflare/budget/lanes';
import { createRequestBudget } from '../../src/cloudflare/budget/request-budget';
import { createPostgresBudgetStore } from '../../src/db/cloudflare-budget-store';
import { createPool } from '../../src/db/pool';

async function main(): Promise<void> {
  const env = (name: string) => {
    const value = process.env[name];
    if (!value) throw new Error(`${name} is not set`);
    return value;
  };
  const pool = createPool(env('DATABASE_URL'));
  const budget = createRequestBudget({
    store: createPostgresBudgetStore(pool),
    settings: { requestsPerWindow: Number(env('REQUESTS')), windowMs: Number(env('WINDOW_MS')) },
  });
  const send = budgetedFetch({
    budget,
    owner: env('OWNER'),
    lane: z.enum(LANES).parse(env('LANE')),
    sendTimeoutMs: 5_000,
  });
  const statuses: number[] = [];
  let next = 0;
  const count = Number(env('COUNT'));
  await Promise.all(
    Array.from({ length: Number(env('CONCURRENCY')) }, async () => {
      while (next < count) {
        next += 1;
        const response = await send(`${env('TARGET_URL')}/${process.pid}`);
        statuses.push(response.status);
        await response.body?.cancel();
      }
    }),
  );
  process.stdout.write(`${JSON.stringify({ statuses })}\n`);
  await pool.end();
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
