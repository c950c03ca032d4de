import { writeFileSync } from 'node:fs';
import type { Pool } from 'pg';
import type { ConsumerFailure, EmergencyWindow, RunRecord } from './checks';
import type { Outage } from './outages';
import type { WorkerExit } from './worker-fleet';

export interface Evidence {
  runs: RunRecord[];
  windows: EmergencyWindow[];
  failures: ConsumerFailure[];
  outages: Outage[];
  workerExits: WorkerExit[];
  pool: Pool;
  accountId: string;
}

/** What a failed run needs looked at: runs, windows, outages, exits, consumer failures and the history rows (fingerprints only). */
export async function dumpEvidence(file: string, input: Evidence): Promise<void> {
  const rows = (
    await input.pool.query(
      `SELECT run_id, token_name, strategy, mode, status, started_at, finished_at, outcome FROM rotations WHERE account_id = $1 ORDER BY started_at`,
      [input.accountId],
    )
  ).rows;
  const steps = (
    await input.pool.query(
      `SELECT s.run_id, s.seq, s.step, s.outcome, s.started_at, s.finished_at, s.details FROM rotation_steps s JOIN rotations r USING (run_id) WHERE r.account_id = $1 ORDER BY s.run_id, s.seq`,
      [input.accountId],
    )
  ).rows;
  const evidence = {
    runs: input.runs,
    emergencyWindows: input.windows,
    outages: input.outages,
    workerExits: input.workerExits,
    consumerFailures: input.failures.slice(0, 500),
    rotations: rows.map((row) => ({ ...row, steps: steps.filter((s) => s.run_id === row.run_id) })),
  };
  writeFileSync(file, JSON.stringify(evidence, null, 1), { mode: 0o600 });
}
