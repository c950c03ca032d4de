import { CancellationScope, isCancellation } from '@temporalio/workflow';
import type { LocalActivities } from '../../activities';
import type { RotationRow, RotationRowResult } from '../../activities/rotation-rows';
import { failureSummary } from '../failures';
import type { HistoryProblem } from './recorder';

/** A row recorded and not yet written: built when its batch takes it. */
export interface PendingRow {
  what: string;
  row: () => RotationRow;
}

/** What an activity that took rows along answers: its own answer, and what became of each row. */
export type WithRowResults<T> = T & { rowResults?: RotationRowResult[] };

type BatchWriter = Pick<LocalActivities, 'recordRotationRows'>;

export interface RowBatchesContext {
  records: BatchWriter;
  /** The first batch and the last: local activities, inside the workflow task that records them. */
  localRecords?: BatchWriter;
  /** Since `rotation-rows-ride-along`: rows ride along with activities the run calls anyway. */
  rideAlong: boolean;
  /** Appends a write to the recorder's queue: rows are written in the order they were recorded. */
  enqueue(write: () => Promise<void>): void;
  /** A row Postgres refused for its data, or could only store cleaned. */
  problem(problem: HistoryProblem): Promise<void>;
}

/**
 * A run's rows in batches (runs since `rotation-fewer-round-trips`): one activity per batch
 * (`recordRotationRows`), not per row, so none crowds the work's round trips. The run row (and
 * audit rows before it) goes at once, the rows between wait until the run does (`writeHeld`:
 * before retire, a pause), and the last ones go when the run is done (the recorder's `flush`).
 *
 * Since `rotation-rows-ride-along` the run row's batch is an activity of its own beside the
 * work's next call (not a local activity before it), and the run's last rows ride along with
 * its promote (`along`): no batch of rows sits on a rotation's critical path.
 */
export class RowBatches {
  private readonly pending: PendingRow[] = [];
  /** A batch is queued that has not taken its rows yet. */
  private batchAhead = false;
  /** Batches on their way to Postgres: rows riding along never overtake them. */
  private writing = 0;

  constructor(private readonly context: RowBatchesContext) {}

  add(entry: PendingRow): void {
    this.pending.push(entry);
    if (entry.row().kind === 'run') this.writeHeld(!this.context.rideAlong);
  }

  /** Held rows start to be written, after the batch under way. */
  writeHeld(local = false): void {
    if (!this.pending.length || this.batchAhead) return;
    this.batchAhead = true;
    this.context.enqueue(() => this.writePending(local));
  }

  /**
   * `call` is an activity the run calls anyway: it takes the rows recorded so far along, and
   * `also` (rows that stand only if the call succeeds: its own step's, the outcome), and writes
   * them after its own work. If the call fails, the rows recorded before stay pending and `also`
   * is dropped. While a batch is on its way nothing rides (rows keep their order): `also` is
   * then recorded as any row once the call has succeeded.
   */
  async along<T extends object>(
    call: (rows?: RotationRow[]) => Promise<WithRowResults<T>>,
    also: PendingRow[] = [],
  ): Promise<T> {
    if (!this.context.rideAlong || this.writing || this.batchAhead) {
      const value = await call();
      for (const entry of also) this.add(entry);
      return value;
    }
    const taken = this.pending.splice(0);
    const batch = [...taken, ...also];
    const rows = batch.map((entry) => entry.row());
    let answer: WithRowResults<T>;
    this.writing++;
    try {
      answer = await call(rows.length ? rows : undefined);
    } catch (error) {
      this.pending.unshift(...taken);
      throw error;
    } finally {
      this.writing--;
    }
    const { rowResults = [], ...value } = answer;
    // A worker that does not know of rows riding along (a deploy under way) wrote none: they stay pending.
    this.pending.unshift(...batch.slice(rowResults.length));
    await this.noteResults(batch, rows, rowResults.slice(0, rows.length), true);
    return value as T;
  }

  /** Writes the rows recorded so far in one activity; notes what Postgres refused or cleaned. */
  private async writePending(local: boolean): Promise<void> {
    this.batchAhead = false;
    const batch = this.pending.splice(0);
    const rows = batch.map((entry) => entry.row());
    let results: RotationRowResult[];
    this.writing++;
    try {
      const records = (local && this.context.localRecords) || this.context.records;
      results = await CancellationScope.nonCancellable(() => records.recordRotationRows(rows));
    } catch (error) {
      if (isCancellation(error)) throw error;
      const { type, message } = failureSummary(error);
      results = rows.map(() => ({ stored: 'rejected', type: String(type), message: String(message) }));
    } finally {
      this.writing--;
    }
    await this.noteResults(batch, rows, results, local);
  }

  private async noteResults(
    batch: PendingRow[],
    rows: RotationRow[],
    results: RotationRowResult[],
    local: boolean,
  ): Promise<void> {
    for (const [i, r] of results.entries()) {
      const write = batch[i]!.what;
      if (r.stored === 'rejected')
        await this.context.problem({ write, stored: 'not stored', type: r.type, message: r.message });
      if (r.stored === 'sanitized') await this.context.problem({ write, stored: 'sanitized', message: r.problem });
    }
    // The outcome row names every row that could not be stored as it was: written again if one before it in its batch was not.
    const at = rows.map((row) => row.kind).lastIndexOf('outcome');
    if (at > 0 && results.slice(0, at).some((r) => r.stored !== 'as-given')) {
      this.pending.push(batch[at]!);
      this.writeHeld(local);
    }
  }
}
