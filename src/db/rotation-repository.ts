import type { Pool } from 'pg';
import { exactTime, toPage, type ListPosition, type Page } from './keyset';

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
  /** What was rotated; absent: an Access service token (rows written before API tokens rotated). */
  kind?: RotationKind;
}

export type RotationKind = 'service-token' | 'api-token';

export interface RotationStepRecord {
  runId: string;
  seq: number;
  step: string;
  outcome: 'ok' | 'failed' | 'compensated' | 'skipped';
  startedAt: string;
  details?: Record<string, unknown>;
}

export interface RotationRow extends RotationStart {
  kind: RotationKind;
  status: RotationStatus;
  startedAt: Date;
  finishedAt: Date | null;
  outcome: Record<string, unknown>;
  /** Step times as ISO 8601 text (`Date#toISOString`'s form). */
  steps: Array<Omit<RotationStepRecord, 'runId'> & { finishedAt: string }>;
}

export interface RotationFilter {
  accountId?: string;
  tokenName?: string;
  kind?: RotationKind;
  limit: number;
  before?: ListPosition;
}

/**
 * A timestamptz written by Postgres as `Date#toISOString` would (milliseconds, truncated alike):
 * a page of 50 rotations has 350 steps, and parsing their 700 times into Dates only to write them
 * back as text cost a fifth of `/rotations`.
 */
const isoText = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

const ROTATION_COLUMNS =
  'run_id, workflow_id, account_id, token_name, kind, strategy, mode, triggered_by, status, started_at, finished_at, outcome';

/** Rotation history: one row per run, one per step; every write idempotent under retries. */
export function createRotationRepository(pool: Pool) {
  return {
    async startRotation(start: RotationStart): Promise<void> {
      await pool.query(
        `INSERT INTO rotations (run_id, workflow_id, account_id, token_name, strategy, mode, triggered_by, status, kind)
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'running', $8) ON CONFLICT (run_id) DO NOTHING`,
        [
          start.runId,
          start.workflowId,
          start.accountId,
          start.tokenName,
          start.strategy,
          start.mode,
          start.triggeredBy,
          start.kind ?? 'service-token',
        ],
      );
    },

    async recordStep(step: RotationStepRecord): Promise<void> {
      await pool.query(
        `INSERT INTO rotation_steps (run_id, seq, step, outcome, started_at, details)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (run_id, seq) DO NOTHING`,
        [step.runId, step.seq, step.step, step.outcome, step.startedAt, JSON.stringify(step.details ?? {})],
      );
    },

    async finishRotation(
      runId: string,
      status: Exclude<RotationStatus, 'running'>,
      outcome: Record<string, unknown>,
    ): Promise<void> {
      await pool.query(
        `UPDATE rotations SET status = $2, outcome = $3, finished_at = COALESCE(finished_at, now()) WHERE run_id = $1`,
        [runId, status, JSON.stringify(outcome)],
      );
    },

    /** One page of rotation runs, newest first, each with its steps; `before` continues after a page's last run. */
    async listRotationPage(filter: RotationFilter): Promise<Page<RotationRow>> {
      const params: unknown[] = [];
      const param = (value: unknown) => `$${params.push(value)}`;
      const where = [
        filter.accountId !== undefined && `account_id = ${param(filter.accountId)}`,
        filter.tokenName !== undefined && `token_name = ${param(filter.tokenName)}`,
        filter.kind !== undefined && `kind = ${param(filter.kind)}`,
        filter.before &&
          `(started_at, run_id) < (${param(filter.before.at)}::timestamptz, ${param(filter.before.key)}::text)`,
      ].filter((condition) => typeof condition === 'string');
      const { rows } = await pool.query(
        `SELECT ${ROTATION_COLUMNS}, ${exactTime('started_at')} AS position_at FROM rotations
         ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
         ORDER BY started_at DESC, run_id DESC LIMIT ${param(filter.limit + 1)}`,
        params,
      );
      const page = toPage(rows, filter.limit, (row) => ({ at: row.position_at, key: row.run_id }));
      if (!page.rows.length) return { rows: [], next: null };
      const steps = await pool.query(
        `SELECT run_id, seq, step, outcome, ${isoText('started_at')} AS started_at, ${isoText('finished_at')} AS finished_at, details
           FROM rotation_steps WHERE run_id = ANY($1) ORDER BY run_id, seq`,
        [page.rows.map((row) => row.run_id)],
      );
      const stepsOf = new Map<string, RotationRow['steps']>();
      for (const s of steps.rows) {
        const list = stepsOf.get(s.run_id) ?? [];
        list.push({
          seq: s.seq,
          step: s.step,
          outcome: s.outcome,
          startedAt: s.started_at,
          finishedAt: s.finished_at,
          details: s.details,
        });
        stepsOf.set(s.run_id, list);
      }
      return {
        next: page.next,
        rows: page.rows.map((row) => ({
          runId: row.run_id,
          workflowId: row.workflow_id,
          accountId: row.account_id,
          tokenName: row.token_name,
          kind: row.kind,
          strategy: row.strategy,
          mode: row.mode,
          triggeredBy: row.triggered_by,
          status: row.status,
          startedAt: row.started_at,
          finishedAt: row.finished_at,
          outcome: row.outcome,
          steps: stepsOf.get(row.run_id) ?? [],
        })),
      };
    },

    async listRotations(filter: Omit<RotationFilter, 'before'>): Promise<RotationRow[]> {
      return (await this.listRotationPage(filter)).rows;
    },

    async lastRotation(
      accountId: string,
      tokenName: string,
      kind: RotationKind = 'service-token',
    ): Promise<RotationRow | undefined> {
      return (await this.listRotations({ accountId, tokenName, kind, limit: 1 }))[0];
    },
  };
}

export type RotationRepository = ReturnType<typeof createRotationRepository>;
