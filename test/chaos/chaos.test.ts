import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, type TestDatabase } from '../support/database';
import { chaosOptions, runChaos } from './engine';
import { formatChaosReport } from './report';
import { OWN_TOKEN } from './api-token-world';

/**
 * A small run of the chaos suite (`npm run chaos` runs 200 rotations): two real worker processes,
 * each killed with SIGKILL and restarted, rotating through the API while the simulator injects
 * faults and a file-store directory breaks, with a consumer process authenticating all along. It
 * runs on the shared Temporal dev server and Postgres of the test run, in its own database and
 * queue, so nothing restarts them here (`npm run chaos` does).
 */
describe('chaos: rotations under Cloudflare faults, store outages and worker SIGKILLs', () => {
  let db: TestDatabase | undefined;
  let dir: string | undefined;
  let keep = false;
  afterAll(async () => {
    await db?.drop();
    if (dir && !keep) rmSync(dir, { recursive: true, force: true });
  });

  it('never leaves a store with a refused credential, and ends with one live credential per token and every run on record', async () => {
    const temporalAddress = process.env.TEST_TEMPORAL_ADDRESS;
    if (!temporalAddress) throw new Error('TEST_TEMPORAL_ADDRESS is not set: run through jest');
    db = await createTestDatabase();
    dir = mkdtempSync(path.join(os.tmpdir(), 'tw-chaos-test-'));
    const report = await runChaos(
      chaosOptions({
        rotations: 8,
        tokens: 4,
        // An account-owned and a user API token, and token-warden's own; with every token in a lane of
        // its own, each is rotated at least once.
        apiTokens: 2,
        concurrency: 6,
        seed: 11,
        temporalAddress,
        databaseUrl: db.url,
        workDir: dir,
        // One kill per worker, aimed between Cloudflare's answer and the staging write half the time.
        workers: 2,
        kills: { minUptimeMs: 6_000, maxUptimeMs: 12_000, startupShare: 0, aimedShare: 0.5, maxKills: 1 },
        // The servers are shared with the other suites.
        infrastructureFaults: false,
        // Short outages only: a long one costs a minute of retries, beyond this run's budget.
        storeOutages: {
          minGapMs: 3_000,
          maxGapMs: 8_000,
          shortMs: [1_000, 4_000],
          longMs: [1_000, 4_000],
          longShare: 0,
        },
        latencyStorms: false,
        rateLimitSqueezes: false,
        emergencyShare: 0.1,
        // Bounds, not targets: the run goes on to its checks as soon as its rotations are done.
        chaosPhaseMs: 70_000,
        chaosTailMs: 10_000,
        settleMs: 30_000,
        deleteSchedules: true,
      }),
    );
    if (report.violations.length) {
      keep = true; // its logs and evidence.json say what happened
      process.stderr.write(`${formatChaosReport(report)}\n(work directory kept: ${dir})\n`);
    }
    expect(report.violations).toEqual([]);
    expect(report.started).toBe(8);
    expect(report.workers.map((w) => w.kills)).toEqual([1, 1]);
    expect(report.workerExits).toEqual([]);
    expect(report.faults.failed).toBeGreaterThan(0);
    expect(report.checks.history.temporalRuns).toBe(report.runs.length);
    const apiTokenRuns = report.runs.filter((r) => r.workflowId.startsWith('rotate-api-token/'));
    expect(new Set(apiTokenRuns.map((r) => r.token))).toEqual(new Set(['chaos-api-0', 'chaos-api-1', OWN_TOKEN]));
    // token-warden's own token: rotated, then revoked in an emergency, by workers that read it from its store.
    const own = apiTokenRuns.filter((r) => r.token === OWN_TOKEN);
    expect(own.map((r) => [r.outcome, Boolean(r.emergency)])).toEqual([
      ['completed', false],
      ['completed', true],
    ]);
    expect(report.checks.tokens.filter((t) => t.name.startsWith('chaos-api-') || t.name === OWN_TOKEN)).toEqual([
      expect.objectContaining({ tokens: 1, liveCredentials: 1, storesAgreeing: 2, stores: 2, pendingLeftovers: 0 }),
      expect.objectContaining({ tokens: 1, liveCredentials: 1, storesAgreeing: 1, stores: 1, pendingLeftovers: 0 }),
      expect.objectContaining({ tokens: 1, liveCredentials: 1, storesAgreeing: 2, stores: 2, pendingLeftovers: 0 }),
    ]);
  }, 150_000);
});
