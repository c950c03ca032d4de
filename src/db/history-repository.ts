import type { Pool } from 'pg';
import type { TokenIdentity } from '../health/types';
import { exactTime, toPage, type ListPosition, type Page } from './keyset';

export interface AuditEvent {
  actor: string;
  action: string;
  subject?: string;
  workflowId?: string;
  runId?: string;
  details?: Record<string, unknown>;
}

export interface ApiTokenCheckRow {
  runId: string;
  workflowId: string;
  kind: 'verify' | 'health';
  triggeredBy: string;
  overallHealth: string;
  autoHealAttempted: boolean;
  autoHealSuccess: boolean | null;
  results: unknown;
}

export interface StoredApiTokenCheck extends ApiTokenCheckRow {
  checkedAt: Date;
}

/** A health check as `/tokens/history` lists it: `summary` is the results column without its report. */
export interface HealthHistoryRow extends Omit<StoredApiTokenCheck, 'kind' | 'results'> {
  summary: unknown;
}

const CHECK_COLUMNS =
  'run_id, workflow_id, kind, triggered_by, overall_health, auto_heal_attempted, auto_heal_success, results, checked_at';

/** History and audit rows; every write is idempotent so activity retries never duplicate. */
export function createHistoryRepository(pool: Pool) {
  return {
    async recordAudit(event: AuditEvent): Promise<void> {
      await pool.query(
        `INSERT INTO audit_events (actor, action, subject, workflow_id, run_id, details)
         SELECT $1, $2, $3, $4, $5, $6
         WHERE $5::text IS NULL OR NOT EXISTS (SELECT 1 FROM audit_events WHERE run_id = $5 AND action = $2)`,
        [
          event.actor,
          event.action,
          event.subject ?? null,
          event.workflowId ?? null,
          event.runId ?? null,
          JSON.stringify(event.details ?? {}),
        ],
      );
    },

    async listAudit(limit: number, subject?: string): Promise<Array<AuditEvent & { occurredAt: Date }>> {
      const { rows } = await pool.query(
        `SELECT actor, action, subject, workflow_id, run_id, details, occurred_at FROM audit_events
         WHERE $2::text IS NULL OR subject = $2 ORDER BY occurred_at DESC, id DESC LIMIT $1`,
        [limit, subject ?? null],
      );
      return rows.map((row) => ({
        actor: row.actor,
        action: row.action,
        subject: row.subject ?? undefined,
        workflowId: row.workflow_id ?? undefined,
        runId: row.run_id ?? undefined,
        details: row.details,
        occurredAt: row.occurred_at,
      }));
    },

    async recordApiTokenCheck(check: ApiTokenCheckRow): Promise<void> {
      await pool.query(
        `INSERT INTO api_token_checks (run_id, workflow_id, kind, triggered_by, overall_health, auto_heal_attempted, auto_heal_success, results)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (run_id) DO NOTHING`,
        [
          check.runId,
          check.workflowId,
          check.kind,
          check.triggeredBy,
          check.overallHealth,
          check.autoHealAttempted,
          check.autoHealSuccess,
          JSON.stringify(check.results),
        ],
      );
    },

    async listApiTokenChecks(limit: number, kind?: ApiTokenCheckRow['kind']): Promise<StoredApiTokenCheck[]> {
      const { rows } = await pool.query(
        kind
          ? `SELECT ${CHECK_COLUMNS} FROM api_token_checks WHERE kind = $2 ORDER BY checked_at DESC, id DESC LIMIT $1`
          : `SELECT ${CHECK_COLUMNS} FROM api_token_checks ORDER BY checked_at DESC, id DESC LIMIT $1`,
        kind ? [limit, kind] : [limit],
      );
      return rows.map((row) => ({
        runId: row.run_id,
        workflowId: row.workflow_id,
        kind: row.kind,
        triggeredBy: row.triggered_by,
        overallHealth: row.overall_health,
        autoHealAttempted: row.auto_heal_attempted,
        autoHealSuccess: row.auto_heal_success,
        results: row.results,
        checkedAt: row.checked_at,
      }));
    },

    /**
     * One page of health checks, newest first, as `/tokens/history` shows them: the summary
     * column (`history_entry`), never the full report, which is what makes a row several KB.
     */
    async listHealthHistory(options: { limit: number; before?: ListPosition }): Promise<Page<HealthHistoryRow>> {
      const { before } = options;
      const { rows } = await pool.query(
        `SELECT id, run_id, workflow_id, triggered_by, overall_health, auto_heal_attempted, auto_heal_success, history_entry, checked_at,
                ${exactTime('checked_at')} AS position_at
           FROM api_token_checks
          WHERE kind = 'health' ${before ? 'AND (checked_at, id) < ($2::timestamptz, $3::bigint)' : ''}
          ORDER BY checked_at DESC, id DESC LIMIT $1`,
        before ? [options.limit + 1, before.at, before.key] : [options.limit + 1],
      );
      const page = toPage(rows, options.limit, (row) => ({ at: row.position_at, key: row.id }));
      return {
        next: page.next,
        rows: page.rows.map((row) => ({
          runId: row.run_id,
          workflowId: row.workflow_id,
          triggeredBy: row.triggered_by,
          overallHealth: row.overall_health,
          autoHealAttempted: row.auto_heal_attempted,
          autoHealSuccess: row.auto_heal_success,
          summary: row.history_entry,
          checkedAt: row.checked_at,
        })),
      };
    },

    /** Token ids and self-read ability learnt by earlier health runs (see api_token_identities). */
    async loadTokenIdentities(): Promise<TokenIdentity[]> {
      const { rows } = await pool.query(
        `SELECT subject, fingerprint, token_id, kind, self_readable FROM api_token_identities ORDER BY subject`,
      );
      return rows.map((row) => ({
        subject: row.subject,
        fingerprint: row.fingerprint,
        tokenId: row.token_id,
        kind: row.kind,
        selfReadable: row.self_readable,
      }));
    },

    async saveTokenIdentities(identities: readonly TokenIdentity[]): Promise<void> {
      for (const identity of identities) {
        await pool.query(
          `INSERT INTO api_token_identities (subject, fingerprint, token_id, kind, self_readable) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (subject) DO UPDATE SET fingerprint = $2, token_id = $3, kind = $4, self_readable = $5, updated_at = now()`,
          [identity.subject, identity.fingerprint, identity.tokenId, identity.kind, identity.selfReadable],
        );
      }
    },
  };
}

export type HistoryRepository = ReturnType<typeof createHistoryRepository>;
