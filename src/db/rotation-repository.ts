import type { Pool } from 'pg';

/** `cancelled`: an operator stopped the run; its outcome says what it left valid. */
export type RotationStatus = 'running' | 'completed' | 'compensated' | 'failed' | 'cancelled';

export interface RotationStart {
  runId: string;
  workflowId: string;
  accountId: string;
  tokenName: string;
  strategy: string;
  mode: string;
  triggeredBy: string;
}

export interface RotationStepRecord {
  runId: string;
  seq: number;
  step: string;
  outcome: 'ok' | 'failed' | 'compensated' | 'skipped';
  startedAt: string;
  details?: Record<string, unknown>;
}

export interface RotationRow extends RotationStart {
  status: RotationStatus;
  startedAt: Date;
  finishedAt: Date | null;
  outcome: Record<string, unknown>;
  steps: Array<Omit<RotationStepRecord, 'runId' | 'startedAt'> & { startedAt: Date; finishedAt: Date }>;
}

/** Rotation history: one row per run, one per step; every write idempotent under retries. */
export function createRotationRepository(pool: Pool) {
  return {
    async startRotation(start: RotationStart): Promise<void> {
      await pool.query(
        `INSERT INTO rotations (run_id, workflow_id, account_id, token_name, strategy, mode, triggered_by, status)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'running') ON CONFLICT (run_id) DO NOTHING`,
        [start.runId, start.workflowId, start.accountId, start.tokenName, start.strategy, start.mode, start.triggeredBy],
      );
    },

    async recordStep(step: RotationStepRecord): Promise<void> {
      await pool.query(
        `INSERT INTO rotation_steps (run_id, seq, step, outcome, started_at, details)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (run_id, seq) DO NOTHING`,
        [step.runId, step.seq, step.step, step.outcome, step.startedAt, JSON.stringify(step.details ?? {})],
      );
    },

    async finishRotation(runId: string, status: Exclude<RotationStatus, 'running'>, outcome: Record<string, unknown>): Promise<void> {
      await pool.query(`UPDATE rotations SET status = $2, outcome = $3, finished_at = COALESCE(finished_at, now()) WHERE run_id = $1`, [runId, status, JSON.stringify(outcome)]);
    },

    async listRotations(filter: { accountId?: string; tokenName?: string; limit: number }): Promise<RotationRow[]> {
      const { rows } = await pool.query(
        `SELECT * FROM rotations WHERE ($1::text IS NULL OR account_id = $1) AND ($2::text IS NULL OR token_name = $2)
         ORDER BY started_at DESC LIMIT $3`,
        [filter.accountId ?? null, filter.tokenName ?? null, filter.limit],
      );
      if (!rows.length) return [];
      const steps = await pool.query(`SELECT * FROM rotation_steps WHERE run_id = ANY($1) ORDER BY run_id, seq`, [rows.map((r) => r.run_id)]);
      return rows.map((row) => ({
        runId: row.run_id,
        workflowId: row.workflow_id,
        accountId: row.account_id,
        tokenName: row.token_name,
        strategy: row.strategy,
        mode: row.mode,
        triggeredBy: row.triggered_by,
        status: row.status,
        startedAt: row.started_at,
        finishedAt: row.finished_at,
        outcome: row.outcome,
        steps: steps.rows
          .filter((s) => s.run_id === row.run_id)
          .map((s) => ({ seq: s.seq, step: s.step, outcome: s.outcome, startedAt: s.started_at, finishedAt: s.finished_at, details: s.details })),
      }));
    },

    async lastRotation(accountId: string, tokenName: string): Promise<RotationRow | undefined> {
      return (await this.listRotations({ accountId, tokenName, limit: 1 }))[0];
    },
  };
}

export type RotationRepository = ReturnType<typeof createRotationRepository>;
