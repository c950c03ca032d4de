import type { Pool } from 'pg';

export interface RetentionOptions {
  /** Rows older than this many days go; 0 keeps everything. */
  retentionDays: number;
  /** Rows deleted per statement: each batch is its own short transaction, so writers never wait long. */
  batchSize?: number;
}

export interface PrunedRows {
  rotations: number;
  apiTokenChecks: number;
  auditEvents: number;
}

const CUTOFF = `now() - $1::int * interval '1 day'`;

/**
 * A run still open is never touched, nor the newest finished rotation of each token, the newest
 * check of each kind or the newest heal: the dashboard, `/tokens/status` and `/metrics` answer
 * from them however old they are. A rotation's steps go with it (ON DELETE CASCADE).
 */
const ROTATIONS = `
  DELETE FROM rotations WHERE run_id IN (
    SELECT run_id FROM rotations old
     WHERE started_at < ${CUTOFF} AND status <> 'running' AND finished_at < ${CUTOFF}
       AND EXISTS (SELECT 1 FROM rotations newer
                    WHERE newer.account_id = old.account_id AND newer.token_name = old.token_name AND newer.status <> 'running'
                      AND (newer.started_at, newer.run_id) > (old.started_at, old.run_id))
     ORDER BY started_at LIMIT $2)`;

const API_TOKEN_CHECKS = `
  DELETE FROM api_token_checks WHERE id IN (
    SELECT id FROM api_token_checks old
     WHERE checked_at < ${CUTOFF}
       AND EXISTS (SELECT 1 FROM api_token_checks newer
                    WHERE newer.kind = old.kind AND (newer.auto_heal_attempted OR NOT old.auto_heal_attempted)
                      AND (newer.checked_at, newer.id) > (old.checked_at, old.id))
     ORDER BY checked_at LIMIT $2)`;

/** An audit row stays as long as the row of the run it started: who asked for a run kept is kept with it. */
const AUDIT_EVENTS = `
  DELETE FROM audit_events WHERE id IN (
    SELECT id FROM audit_events old
     WHERE occurred_at < ${CUTOFF}
       AND (old.run_id IS NULL OR (NOT EXISTS (SELECT 1 FROM rotations r WHERE r.run_id = old.run_id)
                                   AND NOT EXISTS (SELECT 1 FROM api_token_checks c WHERE c.run_id = old.run_id)))
     ORDER BY occurred_at LIMIT $2)`;

/** Deletes history older than the retention, batch by batch, runs before the audit rows that name them. */
export async function pruneHistory(pool: Pool, options: RetentionOptions): Promise<PrunedRows> {
  const pruned: PrunedRows = { rotations: 0, apiTokenChecks: 0, auditEvents: 0 };
  if (options.retentionDays <= 0) return pruned;
  const batchSize = options.batchSize ?? 1_000;
  const drain = async (sql: string): Promise<number> => {
    let total = 0;
    for (;;) {
      const { rowCount } = await pool.query(sql, [options.retentionDays, batchSize]);
      total += rowCount ?? 0;
      if ((rowCount ?? 0) < batchSize) return total;
    }
  };
  pruned.rotations = await drain(ROTATIONS);
  pruned.apiTokenChecks = await drain(API_TOKEN_CHECKS);
  pruned.auditEvents = await drain(AUDIT_EVENTS);
  return pruned;
}
