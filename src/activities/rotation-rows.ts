import { ApplicationFailure } from '@temporalio/common';
import type { AuditEvent, HistoryRepository } from '../db/history-repository';
import type { RotationRepository, RotationStart, RotationStatus, RotationStepRecord } from '../db/rotation-repository';
import { writeHistory, type HistoryWriteResult } from './history-writes';

/** One row of a rotation's bookkeeping: its audit rows, its run row, a step, its outcome. */
export type RotationRow =
  | { kind: 'audit'; row: AuditEvent }
  | { kind: 'run'; row: RotationStart }
  | { kind: 'step'; row: RotationStepRecord }
  | {
      kind: 'outcome';
      row: { runId: string; status: Exclude<RotationStatus, 'running'>; outcome: Record<string, unknown> };
    };

/** What became of one row of a batch: stored (as given or cleaned), or refused for its data for good. */
export type RotationRowResult = HistoryWriteResult | { stored: 'rejected'; type: string; message: string };

export interface RotationRowDeps {
  history: Pick<HistoryRepository, 'recordAudit'>;
  rotations: Pick<RotationRepository, 'startRotation' | 'recordStep' | 'finishRotation'>;
}

/**
 * A rotation's rows written in one activity, in the order given: one task-queue round trip (and
 * one workflow task) for every row recorded while the previous batch was written, rather than one
 * per row. Every write is idempotent (run ids, step seqs), so a batch retried through a Postgres
 * outage writes again what it wrote before without doubling it. A row Postgres refuses for its
 * data (`HistoryDataRejected`) does not hold the others back: its result says so.
 */
export function createRotationRowActivities(deps: RotationRowDeps) {
  const write = (r: RotationRow): Promise<HistoryWriteResult> => {
    switch (r.kind) {
      case 'audit':
        return writeHistory('audit row', r.row, deps.history.recordAudit);
      case 'run':
        return writeHistory('rotation row', r.row, deps.rotations.startRotation);
      case 'step':
        return writeHistory(`rotation step row (${r.row.step})`, r.row, deps.rotations.recordStep);
      case 'outcome':
        return writeHistory('rotation outcome', r.row, (row) =>
          deps.rotations.finishRotation(row.runId, row.status, row.outcome),
        );
    }
  };
  return {
    async recordRotationRows(rows: RotationRow[]): Promise<RotationRowResult[]> {
      const results: RotationRowResult[] = [];
      for (const row of rows) {
        try {
          results.push(await write(row));
        } catch (error) {
          // Postgres away: thrown, and the whole batch is retried. Refused for good: noted, the rest go on.
          if (!(error instanceof ApplicationFailure) || !error.nonRetryable) throw error;
          results.push({ stored: 'rejected', type: String(error.type), message: error.message });
        }
      }
      return results;
    },
  };
}
