import path from 'node:path';
import type { Pool } from 'pg';
import { RestartableChild } from '../../support/processes';
import type { BenchStack } from '../stack';
import type { LoadRound } from './figures';
import { loadRound } from './load';

export interface ApiSpeedOptions {
  /** Rounds per route, interleaved with the bare route's (bare, route, bare, route…). */
  rounds: number;
  roundMs: number;
  concurrency: number;
  /** Rows seeded into each of api_token_checks and rotations (with one step each) for the history lists. */
  historyRows: number;
  log: (line: string) => void;
}

export interface ApiSpeed {
  bare: LoadRound[];
  routes: Record<string, LoadRound[]>;
  /** The bare route's rounds beside the history lists (after the seeding). */
  bareBesideHistory: LoadRound[];
  historyRows: number;
  seedMs: number;
  concurrency: number;
  roundMs: number;
}

/** The bare Fastify app (test/bench/speed/bare-server.ts) in a process of its own, as the API is. */
async function startBareServer(logsDir: string): Promise<{ url: string; child: RestartableChild }> {
  let announce: (port: number) => void = () => undefined;
  const port = new Promise<number>((resolve) => (announce = resolve));
  const child = new RestartableChild({
    name: 'bare-fastify',
    entry: 'test/bench/speed/bare-server.ts',
    logFile: path.join(logsDir, 'bare-fastify.log'),
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', NODE_ENV: 'production' },
    onStdoutLine: (line) => {
      const match = /^listening (\d+)$/.exec(line.trim());
      if (match) announce(Number(match[1]));
    },
  });
  child.start();
  const timeout = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error('the bare Fastify app did not start in 60 s')), 60_000).unref(),
  );
  return { url: `http://127.0.0.1:${await Promise.race([port, timeout])}/bare`, child };
}

/**
 * `rows` health checks and rotations (one step each), newest first ahead of every real one, in
 * one statement per table; the health checks copy the latest real check's results, so
 * `/tokens/status` and `/tokens/history` read what a real run wrote.
 */
export async function seedHistory(pool: Pool, rows: number): Promise<void> {
  await pool.query(
    `INSERT INTO api_token_checks (run_id, workflow_id, kind, checked_at, triggered_by, overall_health, auto_heal_attempted, results)
     SELECT 'bench-check-' || g, 'bench/check/' || g, 'health', now() - g * interval '1 ms', 'schedule:bench', latest.overall_health, false, latest.results
       FROM generate_series(1, $1::int) AS g,
            (SELECT overall_health, results FROM api_token_checks WHERE kind = 'health' ORDER BY checked_at DESC, id DESC LIMIT 1) AS latest`,
    [rows],
  );
  await pool.query(
    `INSERT INTO rotations (run_id, workflow_id, account_id, token_name, strategy, mode, triggered_by, status, started_at, finished_at)
     SELECT 'bench-rotation-' || g, 'bench/rotation/' || g, 'bench-account-' || (g % 5), 'bench-token-' || (g % 2000),
            'rotate-secret', 'scheduled', 'schedule:bench', 'completed', now() - g * interval '1 ms', now() - g * interval '1 ms'
       FROM generate_series(1, $1::int) AS g`,
    [rows],
  );
  await pool.query(
    `INSERT INTO rotation_steps (run_id, seq, step, outcome, started_at, finished_at)
     SELECT 'bench-rotation-' || g, 1, 'issue', 'ok', now() - g * interval '1 ms', now() - g * interval '1 ms'
       FROM generate_series(1, $1::int) AS g`,
    [rows],
  );
  await pool.query('ANALYZE api_token_checks, rotations, rotation_steps');
}

/**
 * P5: the API's `/health` and `/tokens/status` against a bare Fastify route under the same load
 * generator, then `/tokens/history` and `/rotations` with `historyRows` rows seeded.
 */
export async function measureApi(stack: BenchStack, options: ApiSpeedOptions): Promise<ApiSpeed> {
  if (!stack.api) throw new Error('P5 needs the API process');
  const { log } = options;
  const api = stack.api;
  const auth = { authorization: `Bearer ${api.operator}` };
  // A recorded health check for /tokens/status to answer from (the first request starts it).
  const first = await fetch(`${api.url}/tokens/status`, { headers: auth, signal: AbortSignal.timeout(120_000) });
  await first.arrayBuffer();
  if (!first.ok) throw new Error(`GET /tokens/status answered ${first.status} before the load`);
  const bareServer = await startBareServer(stack.logsDir);
  try {
    const round = (url: string, headers?: Record<string, string>) =>
      loadRound(url, {
        concurrency: options.concurrency,
        durationMs: options.roundMs,
        ...(headers ? { headers } : {}),
      });
    const interleave = async (routes: string[], bare: LoadRound[], into: Record<string, LoadRound[]>) => {
      for (let r = 0; r < options.rounds; r++)
        for (const route of routes) {
          bare.push(await round(bareServer.url));
          (into[route] ??= []).push(await round(`${api.url}${route}`, auth));
        }
    };
    // One unmeasured round each: connections, JIT, caches.
    await round(bareServer.url);
    for (const route of ['/health', '/tokens/status']) await round(`${api.url}${route}`, auth);
    const bare: LoadRound[] = [];
    const routes: Record<string, LoadRound[]> = {};
    await interleave(['/health', '/tokens/status'], bare, routes);
    log(`speed P5: throughput rounds done (${options.rounds} × ${options.roundMs} ms per route)`);

    const seedBegan = Date.now();
    await seedHistory(stack.pool, options.historyRows);
    const seedMs = Date.now() - seedBegan;
    log(`speed P5: ${options.historyRows} health checks and rotations seeded in ${(seedMs / 1000).toFixed(1)} s`);
    for (const route of ['/tokens/history', '/rotations']) await round(`${api.url}${route}`, auth);
    const bareBesideHistory: LoadRound[] = [];
    await interleave(['/tokens/history', '/rotations'], bareBesideHistory, routes);
    return {
      bare,
      routes,
      bareBesideHistory,
      historyRows: options.historyRows,
      seedMs,
      concurrency: options.concurrency,
      roundMs: options.roundMs,
    };
  } finally {
    await bareServer.child.close();
  }
}
